import pg from 'pg';
import type { Logger } from '../../log/logger.ts';
import type { Connections } from './pool.ts';
import type { StoreChange } from '../job-store.ts';

/*
 * Wake-ups between processes: LISTEN/NOTIFY. What the PostgreSQL queues get
 * wrong most often is a LISTEN that is never re-established after the
 * connection drops (graphile-worker #541, Oban #1499, River #1358) and work
 * added while it was down that nobody looks for (graphile-worker #185). So:
 * one dedicated connection per process, re-made with backoff whenever it
 * fails; after every (re)connect, listeners are told to look again; a slow
 * backstop tick tells them anyway (and checks that the connection still
 * answers: a link that went silent gives no error for many minutes).
 */

/** The channel a schema's store uses: per schema, so two schemas in one database do not wake each other. */
export function channelOf(schema: string): string {
  return `${schema}_changes`.slice(0, 63);
}

export interface ChangeFeedOptions {
  readonly client: pg.ClientConfig;
  readonly channel: string;
  /** This store's own id: its own NOTIFYs are already told to its listeners, and are ignored here. */
  readonly instance: string;
  readonly pollIntervalMs: number;
  /** Another process's change, by the kinds its NOTIFY names; `any` after a (re)connect and on the backstop tick. */
  readonly onChange: (change: StoreChange) => void;
  readonly description: string;
  readonly logger?: Logger | undefined;
}

/** The LISTEN side: calls `onChange` for other processes' changes, and with `any` after every (re)connect and on the backstop tick. */
export class ChangeFeed {
  readonly #options: ChangeFeedOptions;
  #client: pg.Client | undefined;
  #connecting = false;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #tick: NodeJS.Timeout | undefined;
  #backoffMs = MIN_BACKOFF_MS;
  #stopped = true;
  /** Whether the last (re)connect has finished LISTEN: until then a backstop tick does not ping. */
  #listening = false;
  /** The connection whose backstop ping has not come back yet. */
  #pinging: pg.Client | undefined;

  constructor(options: ChangeFeedOptions) {
    this.#options = options;
  }

  /** Whether the LISTEN connection is up (for tests and health checks). */
  get listening(): boolean {
    return this.#listening;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#connect();
    this.#tick = setInterval(() => this.#backstop(), this.#options.pollIntervalMs);
    this.#tick.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#tick);
    clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    this.#client = undefined;
    this.#listening = false;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    if (this.#stopped || this.#connecting || this.#client !== undefined) return;
    this.#connecting = true;
    const client = new pg.Client(this.#options.client);
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('connection ended')));
    client.on('notification', (message) => {
      if (message.channel !== this.#options.channel) return;
      if (message.payload !== undefined && message.payload.startsWith(`${this.#options.instance}:`)) return;
      for (const change of changesNamed(message.payload)) this.#options.onChange(change);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#options.channel.replace(/"/g, '""')}"`);
    } catch (error) {
      this.#connecting = false;
      client.removeAllListeners('end');
      await client.end().catch(() => {});
      client.removeAllListeners();
      client.on('error', () => {});
      this.#retryLater(error);
      return;
    }
    this.#connecting = false;
    if (this.#stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    this.#listening = true;
    this.#backoffMs = MIN_BACKOFF_MS;
    // Work added while we were not listening was announced to nobody: look now.
    this.#options.onChange('any');
  }

  #lost(client: pg.Client, error: unknown): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#listening = false;
    client.removeAllListeners();
    client.on('error', () => {});
    client.end().catch(() => {});
    this.#retryLater(error);
  }

  #retryLater(error: unknown): void {
    if (this.#stopped || this.#reconnectTimer !== undefined) return;
    this.#options.logger?.warn({ err: error, database: this.#options.description, retryInMs: this.#backoffMs }, 'jobs database LISTEN connection lost; reconnecting');
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#connect();
    }, this.#backoffMs);
    this.#reconnectTimer.unref();
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
  }

  #backstop(): void {
    this.#options.onChange('any');
    const client = this.#client;
    // One query at a time on this connection: a ping still out is the check already under way (its query_timeout
    // ends it on a silent link). Stacking another behind it, tick after tick, queued them in node-postgres, which
    // warns about that ("Calling client.query() when the client is already executing a query") and will refuse it in pg 9.
    if (client === undefined || !this.#listening || this.#pinging === client) return;
    this.#pinging = client;
    client.query('SELECT 1').then(
      () => undefined,
      (error: unknown) => this.#lost(client, error),
    ).finally(() => {
      if (this.#pinging === client) this.#pinging = undefined;
    });
  }
}

/**
 * The kinds a NOTIFY payload names: `<sender>:<kind>[,<kind>…]`, from a
 * store's Notifier or a trigger (`dependants:work`). A payload naming no
 * kind, or one this version does not know, is `any`: a listener then
 * re-reads everything rather than miss a change.
 */
export function changesNamed(payload: string | undefined): StoreChange[] {
  const kinds = payload?.slice(payload.indexOf(':') + 1).split(',') ?? [];
  if (kinds.length === 0 || !kinds.every((kind): kind is NamedChange => NAMED.has(kind))) return ['any'];
  return kinds;
}

type NamedChange = 'work' | 'outcomes' | 'recurring';
const NAMED = new Set<string>(['work', 'outcomes', 'recurring'] satisfies NamedChange[]);

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;

/**
 * The NOTIFY side: after this process commits a change, other processes are
 * told on the store's channel. Sent after the commit, not inside the
 * transaction (a NOTIFY in a transaction serializes every notifying commit
 * on a global lock), and coalesced: the first of a burst goes at once (an
 * add is seen by a worker elsewhere within a round trip), then at most one
 * per `coalesceMs`.
 */
export class Notifier {
  readonly #db: Connections;
  readonly #channel: string;
  readonly #instance: string;
  readonly #coalesceMs: number;
  readonly #logger: Logger | undefined;
  #lastSent = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #pending = new Set<string>();
  #closed = false;

  constructor(db: Connections, channel: string, instance: string, coalesceMs: number, logger?: Logger) {
    this.#db = db;
    this.#channel = channel;
    this.#instance = instance;
    this.#coalesceMs = coalesceMs;
    this.#logger = logger;
  }

  notify(kind: 'work' | 'outcomes' | 'recurring'): void {
    if (this.#closed) return;
    this.#pending.add(kind);
    if (this.#timer !== undefined) return;
    const wait = this.#lastSent + this.#coalesceMs - performance.now();
    if (wait <= 0) {
      this.#send();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#send();
    }, wait);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #send(): void {
    const kinds = [...this.#pending].join(',');
    this.#pending.clear();
    this.#lastSent = performance.now();
    // Best effort: a lost NOTIFY is made up for by the listeners' backstop tick.
    this.#db.read((client) => client.query('SELECT pg_notify($1, $2)', [this.#channel, `${this.#instance}:${kinds}`]))
      .catch((error: unknown) => this.#logger?.debug({ err: error }, 'could not NOTIFY other processes of a change'));
  }
}
