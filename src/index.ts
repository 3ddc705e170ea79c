/**
 * The public entry for plugins, embedding and scripts.
 *
 * @example Add jobs to a database and run a worker in-process, without a plugins folder:
 * ```ts
 * import { SqliteStore, WorkerService, Worker, serviceMap, outsideprocess, createLogger } from './src/index.ts';
 *
 * const store = SqliteStore.open({ path: '/var/lib/app/jobs.db' });
 * const jobs = new WorkerService(store);
 * const mailer = { send: outsideprocess(async (params: { to: string }) => `sent to ${params.to}`) };
 * await jobs.add('mailer', 'send', { to: 'ada@example.org' });
 *
 * const worker = new Worker({ store, services: serviceMap({ mailer }), logger: createLogger() });
 * worker.start();
 * // … later
 * await worker.stop();
 * await store.close();
 * ```
 */
export { WorkerService, parseSignature } from './worker/worker-service.ts';
export { JobHandle, JobFailedError, ResultTimeoutError, waitForAll, waitForAny, type ResultOptions } from './worker/job-handle.ts';
export type { ProgressEvent } from './worker/result-watcher.ts';
export { WorkerEvents, type WorkerEventMap, type WorkerEventName } from './worker/worker-events.ts';
export { Worker, type WorkerOptions } from './worker/worker.ts';
export { outsideprocess, type MethodOptions, type OutsideprocessMarker } from './worker/outsideprocess.ts';
export type { JobContext } from './worker/job-context.ts';
export { NonRetryableError, JobTimeoutError, JobCancelledError, LeaseLostError, WorkerShutdownError } from './worker/job-errors.ts';
export type { JobOptions, RecurringOptions, Priority } from './worker/job-options.ts';
export { serviceMap, type ServiceRegistry } from './worker/resolve-target.ts';
export { openWorkerService } from './worker/open-worker-service.ts';
export { SqliteStore, type SqliteStoreOptions } from './store/sqlite/sqlite-store.ts';
export { PostgresStore, type PostgresStoreOptions } from './store/postgres/postgres-store.ts';
export { openStore } from './store/open-store.ts';
export type { JobStore, JobRecord, JobState, RecurringRecord, JobStats, MethodFailures, WorkerInfo } from './store/job-store.ts';
export { PluginManager, type PluginSetup } from './plugins/plugin-manager.ts';
export { ConfigService } from './config/config-service.ts';
export type { HostInfo } from './cli/bootstrap.ts';
export { createLogger, type Logger } from './log/logger.ts';
export type { Clock } from './schedule/clock.ts';
export type { MisfirePolicy } from './schedule/schedule.ts';
export {
  SchedulerError, InvalidArgumentError, SerializationError, PluginError, ConfigError, JobTargetError, JobNotFoundError,
  RecurringNotFoundError, SchemaTooNewError, DatabaseReplacedError, DatabaseUnavailableError, StoreClosedError,
} from './errors.ts';
