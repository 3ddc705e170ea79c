import pg from 'pg';
import { DatabaseUnavailableError } from '../../errors.ts';
import type { Logger } from '../../log/logger.ts';

/**
 * SQLSTATEs after which the whole pool is replaced, not just the connection
 * that saw them: the server is read-only (a failover left us on a replica,
 * River #1225), shutting down, crashed, or starting up. The other idle
 * connections point at the same server and would fail next.
 */
const RECYCLE_CODES = new Set(['25006', '57P01', '57P02', '57P03']);

/** Socket errors: the server is unreachable, or the connection dropped. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/** node-postgres reports a lost or refused connection by message, without a code. */
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Query read timeout',
  'not queryable',
  'Client was closed',
];

/**
 * Whether `error` means the connection or the server failed (rather than
 * the SQL): class 08 (connection exception), 53300 (too many connections),
 * the {@link RECYCLE_CODES}, socket errors and node-postgres's own.
 */
export function isConnectionError(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (code.startsWith('08') || code === '53300' || RECYCLE_CODES.has(code) || SOCKET_CODES.has(code))) return true;
  return typeof message === 'string' && CONNECTION_MESSAGES.some((text) => message.includes(text));
}

export function needsRecycle(error: unknown): boolean {
  const { code } = error as { code?: unknown };
  return typeof code === 'string' && RECYCLE_CODES.has(code);
}

/** The type id of bigint[] (not in pg's builtins list, which names scalar types only). */
const INT8_ARRAY = 1016;
const parseTextArray = pg.types.getTypeParser(INT8_ARRAY as Parameters<typeof pg.types.getTypeParser>[0], 'text') as (value: string) => (string | null)[];

/**
 * bigint (int8) columns and arrays come back as numbers: every one here is an
 * id, a count or epoch milliseconds, all below 2^53. Per pool, not through
 * pg.types globally, which would change other pg users in the process.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    if (oid === INT8_ARRAY) return (value: string) => parseTextArray(value).map((item) => (item === null ? null : Number(item)));
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PoolOptions {
  readonly url: string;
  readonly poolSize: number;
  readonly connectTimeoutMs: number;
  readonly queryTimeoutMs: number;
  /** How messages name the database (see `describeDatabase`). */
  readonly description: string;
  readonly logger?: Logger | undefined;
}

/**
 * Planner settings of every connection. Every query here is an ordered index
 * walk or a lookup by key. With the statistics of a queue just filled
 * (before autovacuum analyzes it), the planner took a bitmap scan of
 * jobs_claim and sorted the whole due backlog on every claim (measured:
 * 12 ms for 100 of 5,000 waiting jobs); without bitmap scans it walks
 * jobs_claim in order and stops.
 */
const PLANNER_OPTIONS = '-c enable_bitmapscan=off';

/**
 * And on every connection but the write one, every statement planned at
 * each run (custom plans): a named statement's plan is otherwise made
 * generic after five runs and kept, and one made while a table was small
 * kept a sequential scan of it as it grew (keyed adds behind a busy key
 * slowed to 9 ms each as job_flow filled, until autovacuum analyzed it).
 * The write connection (outcomes and claims, the hot path) keeps
 * PostgreSQL's default, and drops its plans every few seconds instead
 * ({@link PLAN_REFRESH_MS}): planning every statement at every run there
 * cost ~20% more server instructions per job (bench/pg-instructions.sh:
 * 235.9k against 193.1k).
 */
const POOL_OPTIONS = `${PLANNER_OPTIONS} -c plan_cache_mode=force_custom_plan`;

/**
 * How often the write connection drops its cached plans (`DISCARD PLANS`;
 * its prepared statements stay). A generic plan is kept once chosen, and
 * PostgreSQL chooses it when it looks no dearer than the custom ones: on
 * empty tables it always does, and that plan scans them whole. A worker
 * started on an empty queue that then got 300,000 jobs drained them 100×
 * slower (20 outcomes-and-claims of 100: 12.5 s against 0.11 s,
 * `bench/pg-stale-plans.ts`) until autovacuum next vacuumed or analyzed the table. After a
 * discard each statement is planned afresh five times, then a generic plan
 * is weighed on the tables as they are, and kept only if it is no dearer.
 */
const PLAN_REFRESH_MS = 5000;

/** The pg client settings every connection of the store uses, the LISTEN one included (the write connection has {@link PLANNER_OPTIONS} alone). */
export function clientConfig(options: PoolOptions): pg.ClientConfig {
  return {
    connectionString: options.url,
    types,
    // A server cut off by the network answers nothing: without these a query waits for TCP's many minutes.
    keepAlive: true,
    keepAliveInitialDelayMillis: 5000,
    query_timeout: options.queryTimeoutMs,
    connectionTimeoutMillis: Math.min(options.connectTimeoutMs, 5000),
    application_name: 'amsoil-scheduler',
    options: POOL_OPTIONS,
  };
}

/**
 * The store's connections: a node-postgres pool that survives the server
 * going away. Connection failures are retried with backoff for up to
 * `connectTimeoutMs` wherever that cannot repeat a write; the pool is replaced
 * on the {@link RECYCLE_CODES}; an idle connection's error is logged, never
 * thrown (no process exits because the server went away: pg-boss #365).
 */
export class Connections {
  readonly #options: PoolOptions;
  #pool: pg.Pool;
  #pipe: pg.Client | undefined;
  /** When the write connection last dropped its cached plans ({@link PLAN_REFRESH_MS}; performance.now()). */
  #plansDiscardedAt = Number.NEGATIVE_INFINITY;
  #pipeConnecting: Promise<pg.Client> | undefined;
  #closed = false;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.#pool = this.#newPool();
  }

  get description(): string {
    return this.#options.description;
  }

  /**
   * Runs `fn` on one connection, outside a transaction, for reads and for
   * writes that may safely run twice. Retried on connection errors until
   * `connectTimeoutMs` has passed.
   */
  async read<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#withRetries(async () => {
      const client = await this.#pool.connect();
      return this.#use(client, () => fn(client));
    });
  }

  /**
   * Runs `fn` in one transaction. A connection error before COMMIT is sent
   * rolled the transaction back on the server, so it is retried like a
   * read; an error during COMMIT leaves unknown whether it committed, so it
   * rejects with {@link DatabaseUnavailableError} and is never repeated.
   */
  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#withRetries(async () => {
      const client = await this.#pool.connect();
      return this.#use(client, async () => {
        await client.query('BEGIN');
        let result: T;
        try {
          result = await fn(client);
        } catch (error) {
          if (!isConnectionError(error)) await client.query('ROLLBACK');
          throw error;
        }
        try {
          await client.query('COMMIT');
        } catch (error) {
          if (!isConnectionError(error)) throw error;
          throw new DatabaseUnavailableError(
            `the jobs database ${this.description} went away while committing; the change may or may not have been stored (${messageOf(error)})`,
            { cause: error },
          );
        }
        return result;
      });
    });
  }

  /**
   * Runs one statement that commits by itself (autocommit). Waiting for a
   * connection is retried; once the statement was sent, a connection error
   * rejects at once: it may have committed.
   */
  async writeOnce<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#withRetries(() => this.#pool.connect());
    try {
      return await this.#use(client, () => fn(client));
    } catch (error) {
      throw this.#afterWrite(error);
    }
  }

  /**
   * Runs one statement that commits by itself, as {@link writeOnce} does, on
   * the one connection kept in node-postgres's pipeline mode. Once connected,
   * `fn`'s query is written to the socket before this returns, in the same
   * turn of the event loop, even while earlier statements await their
   * answers; through the pool it would wait for a free connection (perhaps
   * one still to be opened). So an outcome a worker writes as its job
   * finishes reaches the server even if another job blocks the process right
   * after, and the server commits it (issue 15 §1b). Statements on it run in
   * the order sent: progress written before an outcome lands before it.
   */
  async pipelined<T>(fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
    const client = this.#pipe ?? (await this.#withRetries(() => this.#connectPipe()));
    const now = performance.now();
    if (now - this.#plansDiscardedAt >= PLAN_REFRESH_MS) {
      this.#plansDiscardedAt = now;
      // Sent ahead of fn's statement, in order; a failure here fails that statement too, which reports it.
      client.query('DISCARD PLANS').catch(() => {});
    }
    try {
      return await fn(client);
    } catch (error) {
      if (isConnectionError(error)) this.#dropPipe(client);
      if (needsRecycle(error)) this.#recycle(error);
      throw this.#afterWrite(error);
    }
  }

  /** What a write that failed rejects with: a connection error after sending may have committed. */
  #afterWrite(error: unknown): unknown {
    if (!isConnectionError(error) || error instanceof DatabaseUnavailableError) return error;
    if ((error as { code?: string }).code === '25006') {
      // Refused, so certainly not stored: the server is a replica now (a failover); the pool was replaced.
      return new DatabaseUnavailableError(`the jobs database ${this.description} is read-only (a failover to a replica?); nothing was stored`, { cause: error });
    }
    return new DatabaseUnavailableError(
      `the jobs database ${this.description} went away during a write; it may or may not have been stored (${messageOf(error)})`,
      { cause: error },
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pipe = this.#pipe ?? (await this.#pipeConnecting?.catch(() => undefined));
    this.#pipe = undefined;
    await Promise.all([this.#pool.end(), pipe?.end().catch(() => {})]);
  }

  /** Opens the pipeline connection, once for all callers waiting on it. */
  #connectPipe(): Promise<pg.Client> {
    if (this.#closed) return Promise.reject(new Error('Client was closed and is not queryable'));
    this.#pipeConnecting ??= (async () => {
      const client = new pg.Client({ ...clientConfig(this.#options), pipeline: true, options: PLANNER_OPTIONS });
      // A connection that drops between statements emits here; the next statement reports it, and the next write reconnects.
      client.on('error', (error) => {
        this.#options.logger?.warn({ err: error, database: this.description }, 'jobs database write connection failed');
        this.#dropPipe(client);
      });
      try {
        await client.connect();
      } catch (error) {
        client.end().catch(() => {});
        throw error;
      }
      if (this.#closed) {
        await client.end().catch(() => {});
        throw new Error('Client was closed and is not queryable');
      }
      this.#pipe = client;
      return client;
    })().finally(() => {
      this.#pipeConnecting = undefined;
    });
    return this.#pipeConnecting;
  }

  #dropPipe(client: pg.Client): void {
    if (this.#pipe !== client) return;
    this.#pipe = undefined;
    client.end().catch(() => {});
  }

  /** Releases `client` after `fn`: destroyed if its connection failed, back to the pool otherwise. */
  async #use<T>(client: pg.PoolClient, fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      client.release();
      return result;
    } catch (error) {
      client.release(isConnectionError(error) ? toError(error) : undefined);
      if (needsRecycle(error)) this.#recycle(error);
      throw error;
    }
  }

  async #withRetries<T>(attempt: () => Promise<T>): Promise<T> {
    const deadline = performance.now() + this.#options.connectTimeoutMs;
    for (let delay = 25; ; delay = Math.min(delay * 2, 1000)) {
      try {
        return await attempt();
      } catch (error) {
        if (!isConnectionError(error) || error instanceof DatabaseUnavailableError) throw error;
        if (this.#closed) throw error;
        if (needsRecycle(error)) this.#recycle(error);
        if (performance.now() + delay > deadline) {
          throw new DatabaseUnavailableError(
            `the jobs database ${this.description} is unreachable (gave up after ${this.#options.connectTimeoutMs} ms): ${messageOf(error)}`,
            { cause: error },
          );
        }
        this.#options.logger?.warn({ err: error, database: this.description, retryInMs: delay }, 'jobs database unreachable; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /** Replaces the pool: its idle connections all point at a server that is gone or read-only now. */
  #recycle(cause: unknown): void {
    if (this.#closed) return;
    if (this.#pipe !== undefined) this.#dropPipe(this.#pipe);
    const old = this.#pool;
    this.#pool = this.#newPool();
    this.#options.logger?.warn({ err: cause, database: this.description }, 'jobs database restarted or failed over; replacing the connection pool');
    // Connections still checked out are destroyed as they come back (release with an error, or pool.end).
    old.end().catch(() => {});
  }

  #newPool(): pg.Pool {
    const pool = new pg.Pool({ ...clientConfig(this.#options), max: this.#options.poolSize, idleTimeoutMillis: 30_000 });
    // An idle connection that drops emits here; unhandled, it would end the process.
    pool.on('error', (error) => this.#options.logger?.warn({ err: error, database: this.description }, 'idle jobs database connection failed'));
    // A checked-out connection that drops between queries emits 'error' on itself: the next query reports it.
    pool.on('connect', (client) => client.on('error', () => {}));
    return pool;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
