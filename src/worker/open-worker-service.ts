import { wholeNumber, type ConfigReader } from '../config/config-values.ts';
import type { Logger } from '../log/logger.ts';
import { openStore } from '../store/open-store.ts';
import type { ServiceRegistry } from './resolve-target.ts';
import { WorkerService } from './worker-service.ts';

/**
 * Opens the job store named by `worker.dbpath` (a SQLite file or a
 * PostgreSQL URL: see {@link openStore}) and returns the `worker` service
 * over it. Used by the `worker` plugin and the CLI.
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
  const store = await openStore(options);
  return new WorkerService(store, { maxPayloadBytes, ...(options.services === undefined ? {} : { services: options.services }) });
}
