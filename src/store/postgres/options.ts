import type { Logger } from '../../log/logger.ts';

/** Options for {@link PostgresStore.open}; every default is here. */
export interface PostgresStoreOptions {
  /** `postgres://` or `postgresql://` URL of the server and database (the same as `worker.dbpath` takes). */
  readonly url: string;
  /**
   * The schema holding the store's tables; created (and migrated) if missing.
   * Dropping it (`DROP SCHEMA … CASCADE`) clears every job: the store makes
   * it anew, with a new database identity, on its next use.
   * @default 'amsoil_scheduler'
   */
  readonly schema?: string;
  /** Most connections of this process's pool (the LISTEN connection is one more). @default 10 */
  readonly poolSize?: number;
  /**
   * How long a call waits for a usable connection while the server is down
   * or restarting (retrying with backoff) before it rejects with
   * `DatabaseUnavailableError`. A write is never retried once it may have
   * committed: it rejects at once instead.
   * @default 10000
   */
  readonly connectTimeoutMs?: number;
  /**
   * Longest a query may take before the client gives up on its connection
   * (a server cut off by the network answers nothing, and TCP would wait
   * for many minutes). @default 30000
   */
  readonly queryTimeoutMs?: number;
  /**
   * Backstop: how often listeners of {@link PostgresStore.onChange} are told
   * `any` even when no notification came (a lost NOTIFY, a connection
   * between reconnects). @default 2000
   */
  readonly pollIntervalMs?: number;
  /**
   * NOTIFYs this process sends for its own writes are coalesced: at most one
   * per this many milliseconds (the first of a burst goes at once). @default 10
   */
  readonly notifyCoalesceMs?: number;
  readonly logger?: Logger;
}

/** {@link PostgresStoreOptions} with every default filled in. */
export type ResolvedOptions = Required<Omit<PostgresStoreOptions, 'logger'>> & Pick<PostgresStoreOptions, 'logger'>;

export const DEFAULT_SCHEMA = 'amsoil_scheduler';

export function resolveOptions(options: PostgresStoreOptions): ResolvedOptions {
  return {
    url: options.url,
    schema: options.schema ?? DEFAULT_SCHEMA,
    poolSize: options.poolSize ?? 10,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    queryTimeoutMs: options.queryTimeoutMs ?? 30_000,
    pollIntervalMs: options.pollIntervalMs ?? 2000,
    notifyCoalesceMs: options.notifyCoalesceMs ?? 10,
    logger: options.logger,
  };
}

/** Whether `location` (a `worker.dbpath` value) names a PostgreSQL server rather than a SQLite file. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** The URL without its password, and the schema: how messages and logs name the database. */
export function describeDatabase(url: string, schema: string): string {
  let shown = url;
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    shown = parsed.toString();
  } catch {
    shown = 'the configured PostgreSQL URL';
  }
  return `${shown} (schema ${schema})`;
}
