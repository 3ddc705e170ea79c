import { resolveDbPath } from '../config/core-keys.ts';
import { wholeNumber, type ConfigReader } from '../config/config-values.ts';
import { DatabaseUnavailableError, SchemaTooNewError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { JobStore } from '../store/job-store.ts';
import { openStore } from '../store/open-store.ts';
import { isPostgresUrl } from '../store/postgres/options.ts';
import { whyCannotOpen } from '../store/sqlite/open-failure.ts';
import type { ServiceRegistry } from './resolve-target.ts';
import { WorkerService } from './worker-service.ts';

/**
 * Opens the job store named by `worker.dbpath` (a SQLite file or a
 * PostgreSQL URL: see {@link openStore}) and returns the `worker` service
 * over it. Used by the `worker` plugin and the CLI.
 * @throws DatabaseUnavailableError (`ERR_DATABASE_UNAVAILABLE`) when it cannot be opened, in one
 *   line naming `worker.dbpath`, the path and why: its folder cannot be made, a directory is there,
 *   the file is not a SQLite database (it is left untouched), a permission is missing, the server
 *   cannot be reached…
 */
export async function openWorkerService(options: {
  config: ConfigReader;
  projectRoot: string;
  logger: Logger;
  /** Where job methods are found, for their `outsideprocess` defaults (the plugin manager). */
  services?: ServiceRegistry;
  /** SQLite only: `background` checkpoints suit the long-lived app and worker processes. @default 'background' */
  checkpoint?: 'inline' | 'background';
}): Promise<WorkerService> {
  const maxPayloadBytes = wholeNumber(options.config, 'worker.maxPayloadBytes', 1);
  let store: JobStore;
  try {
    store = await openStore(options);
  } catch (error) {
    // Already clear, and naming the database: a schema a newer version migrated, a server out of reach.
    const location = String(options.config.get('worker.dbpath'));
    if (error instanceof SchemaTooNewError || isPostgresUrl(location)) throw error;
    const path = resolveDbPath(location, options.projectRoot);
    throw new DatabaseUnavailableError(`cannot open worker.dbpath ${path}: ${whyCannotOpen(path, error)}`, { cause: error });
  }
  return new WorkerService(store, { maxPayloadBytes, ...(options.services === undefined ? {} : { services: options.services }) });
}
