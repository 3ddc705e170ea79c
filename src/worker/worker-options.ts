import type { Logger } from '../log/logger.ts';
import type { Clock } from '../schedule/clock.ts';
import type { JobStore } from '../store/job-store.ts';
import type { BackoffOptions } from './backoff.ts';
import type { Retention } from './maintenance.ts';
import type { ServiceRegistry } from './resolve-target.ts';
import type { WorkerEvents } from './worker-events.ts';

/** Options for {@link Worker}. All durations in milliseconds. */
export interface WorkerOptions {
  readonly store: JobStore;
  /** Where `service` names are resolved: the plugin manager, or `serviceMap`. */
  readonly services: ServiceRegistry;
  readonly logger: Logger;
  /** Jobs run at once in this process. @default 10 */
  readonly concurrency?: number;
  /** How long a claim holds a job without a heartbeat; heartbeats come every third of it. @default 30000 */
  readonly leaseMs?: number;
  /** How often jobs of dead workers on this host are looked for. @default 1000 */
  readonly livenessIntervalMs?: number;
  /** Longest sleep before the wall clock is looked at again (a suspended machine, a clock change). @default 30000 */
  readonly maxSleepMs?: number;
  /** Timeout of jobs stored without one; null for none. @default null */
  readonly defaultTimeoutMs?: number | null;
  /** How long a method may go on after its attempt was ended by its signal before {@link onStuck} is called. @default 5000 */
  readonly lingerMs?: number;
  /**
   * Called (once) when a method ignored its signal for longer than `lingerMs`:
   * only a new process can stop it. The worker process exits to be replaced.
   */
  readonly onStuck?: (jobId: number) => void;
  /**
   * How often the worker logs one info line of what it did (outcomes by kind,
   * run-time percentiles), while it runs jobs; an idle worker logs nothing.
   * Null for none. @default 10000
   */
  readonly statsIntervalMs?: number | null;
  /** How long finished jobs are kept. @default keep forever */
  readonly retention?: Retention;
  /** Where lifecycle events go (the `worker` service's `events`). */
  readonly events?: WorkerEvents;
  /** Largest result, in bytes of stored text. @default 1 MiB */
  readonly maxResultBytes?: number;
  readonly backoff?: BackoffOptions;
  readonly clock?: Clock;
  /** Injectable jitter source for tests. */
  readonly random?: () => number;
}
