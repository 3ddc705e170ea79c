import { resolveDbPath } from '../config/core-keys.ts';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import type { Synchronous } from '../store/sqlite/open-database.ts';
import type { ServiceRegistry } from './resolve-target.ts';
import { WorkerService } from './worker-service.ts';

/** The part of the config service this needs. */
interface ConfigReader {
  get(key: string): unknown;
}

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
}): WorkerService {
  const path = resolveDbPath(String(options.config.get('worker.dbpath')), options.projectRoot);
  const synchronous = String(options.config.get('worker.synchronous')).toUpperCase();
  if (synchronous !== 'NORMAL' && synchronous !== 'FULL') {
    throw new ConfigError(`Expected config \`worker.synchronous\` to be NORMAL or FULL, got \`${synchronous}\``);
  }
  const store = SqliteStore.open({ path, synchronous: synchronous as Synchronous, logger: options.logger });
  const maxPayloadBytes = Number(options.config.get('worker.maxPayloadBytes'));
  if (!Number.isSafeInteger(maxPayloadBytes) || maxPayloadBytes < 1) {
    throw new ConfigError(`Expected config \`worker.maxPayloadBytes\` to be a positive whole number, got \`${String(options.config.get('worker.maxPayloadBytes'))}\``);
  }
  return new WorkerService(store, { maxPayloadBytes, ...(options.services === undefined ? {} : { services: options.services }) });
}
