import { resolveDbPath } from '../config/core-keys.ts';
import { durationMs, oneOf, wholeNumber, type ConfigReader } from '../config/config-values.ts';
import type { Logger } from '../log/logger.ts';
import type { JobStore } from './job-store.ts';
import { isPostgresUrl } from './postgres/options.ts';
import type { Synchronous } from './sqlite/open-database.ts';
import { SqliteStore } from './sqlite/sqlite-store.ts';

/**
 * Opens the job store `worker.dbpath` names: a SQLite file (a path,
 * relative to the project root), or a PostgreSQL server (a `postgres://` or
 * `postgresql://` URL, with the `worker.postgres.*` settings). Nothing else
 * in the app, the worker or the CLI depends on which.
 * @param options.checkpoint SQLite only: see `SqliteStoreOptions.checkpoint`.
 */
export async function openStore(options: {
  readonly config: ConfigReader;
  readonly projectRoot: string;
  readonly logger: Logger;
  readonly checkpoint?: 'inline' | 'background';
}): Promise<JobStore> {
  const { config, logger } = options;
  const location = String(config.get('worker.dbpath'));
  if (isPostgresUrl(location)) {
    // Loaded only when asked for: a SQLite user's commands do not pay for the driver.
    const { PostgresStore } = await import('./postgres/postgres-store.ts');
    return PostgresStore.open({
      url: location,
      schema: String(config.get('worker.postgres.schema')),
      poolSize: wholeNumber(config, 'worker.postgres.poolSize', 1),
      connectTimeoutMs: durationMs(config, 'worker.postgres.connectTimeoutSeconds') ?? 0,
      logger,
    });
  }
  return SqliteStore.open({
    path: resolveDbPath(location, options.projectRoot),
    synchronous: oneOf<Synchronous>(config, 'worker.synchronous', ['NORMAL', 'FULL']),
    logger,
    checkpoint: options.checkpoint ?? 'background',
  });
}
