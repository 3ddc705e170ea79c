import { isAbsolute, resolve } from 'node:path';

/**
 * Config keys the host installs before any plugin loads: the worker process
 * and the CLI need them without loading plugins.
 */
export const CORE_KEYS = [
  { key: 'worker.dbpath', default: 'deploy/worker.db', description: 'Job database: a SQLite file (a relative path is resolved against the project root; deleting it clears every job), or a postgres:// or postgresql:// URL.' },
  { key: 'worker.postgres.schema', default: 'amsoil_scheduler', description: 'PostgreSQL only: the schema holding the tables (created if missing). Dropping it clears every job.' },
  { key: 'worker.postgres.poolSize', default: 10, description: 'PostgreSQL only: connections per process (one more listens for notifications).' },
  { key: 'worker.postgres.connectTimeoutSeconds', default: 10, description: 'PostgreSQL only: how long a call waits for the server to come back before it fails, naming the database.' },
  { key: 'worker.concurrency', default: 10, description: 'Jobs one worker process runs at once.' },
  { key: 'worker.processes', default: 1, description: 'Worker processes main.ts --worker keeps running under its supervisor; 0 runs the worker in the main process, without a supervisor (no hard timeouts).' },
  { key: 'worker.defaultTimeoutSeconds', default: 0, description: 'Timeout of jobs added without one; 0 for none.' },
  { key: 'worker.killGraceSeconds', default: 5, description: 'How long a job method may go on after its timeout or cancellation before its worker process is replaced to stop it.' },
  { key: 'worker.stuckSeconds', default: 20, description: 'A worker process whose event loop is blocked this long is killed and replaced; must be less than worker.leaseSeconds.' },
  { key: 'worker.retention.succeededDays', default: 7, description: 'Succeeded jobs are deleted this many days after they finished; 0 keeps them.' },
  { key: 'worker.retention.failedDays', default: 30, description: 'Failed and cancelled jobs are deleted this many days after they finished; 0 keeps them.' },
  { key: 'worker.leaseSeconds', default: 30, description: 'How long a claimed job stays leased without a heartbeat before another worker may take it.' },
  { key: 'worker.shutdownGraceSeconds', default: 30, description: 'On SIGINT/SIGTERM, how long running jobs may take to finish before they are aborted and given back.' },
  { key: 'worker.statsIntervalSeconds', default: 10, description: 'How often each worker process logs one info line of what it did (jobs succeeded, failed, retried, cancelled; run time p50/p99) while it runs jobs; 0 for never.' },
  { key: 'worker.maxPayloadBytes', default: 1_048_576, description: 'Largest params or result, in bytes of stored text; larger ones are refused with an error.' },
  { key: 'worker.synchronous', default: 'NORMAL', description: 'SQLite synchronous setting: NORMAL (a power cut may lose the last commits) or FULL (durable, slower writes).' },
  { key: 'log.level', default: 'info', description: 'pino log level: trace, debug, info, warn, error, fatal or silent.' },
  { key: 'log.pretty', default: 'auto', description: 'Readable log lines instead of JSON: auto (when stdout is a terminal), true or false.' },
] as const;

/** The absolute path of the job database: `worker.dbpath` resolved against the project root. */
export function resolveDbPath(dbpath: string, projectRoot: string): string {
  return isAbsolute(dbpath) ? dbpath : resolve(projectRoot, dbpath);
}
