import { resolveDbPath } from '../config/core-keys.ts';
import { oneOf, wholeNumber, type ConfigReader } from '../config/config-values.ts';
import type { Logger } from '../log/logger.ts';
import { SqliteStore, type SqliteStoreOptions } from '../store/sqlite/sqlite-store.ts';
import type { Synchronous } from '../store/sqlite/open-database.ts';
import type { ServiceRegistry } from './resolve-target.ts';
import { WorkerService } from './worker-service.ts';

/**
 * Opens the job database named by `worker.dbpath` and returns the `worker`
 * service over it. Used by the `worker` plugin and the CLI.
 */
export function openWorkerService(options: {
  config: ConfigReader;
  projectRoot: string;
  logger: Logger;
  /** Where job methods are found, for their `outsideprocess` defaults (the plugin manager). */
  services?: ServiceRegistry;
  /** See {@link SqliteStoreOptions.checkpoint}: `background` suits the long-lived app and worker processes. @default 'background' */
  checkpoint?: 'inline' | 'background';
}): WorkerService {
  const path = resolveDbPath(String(options.config.get('worker.dbpath')), options.projectRoot);
  const synchronous = oneOf<Synchronous>(options.config, 'worker.synchronous', ['NORMAL', 'FULL']);
  const maxPayloadBytes = wholeNumber(options.config, 'worker.maxPayloadBytes', 1);
  const store = SqliteStore.open({ path, synchronous, logger: options.logger, checkpoint: options.checkpoint ?? 'background' });
  return new WorkerService(store, { maxPayloadBytes, ...(options.services === undefined ? {} : { services: options.services }) });
}
