import type { Logger } from '../log/logger.ts';

/** The second argument of every job method. */
export interface JobContext {
  /** The job's id in the store. */
  readonly id: number;
  readonly service: string;
  readonly method: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** Fires when the job is cancelled, times out, or the worker shuts down past its grace period. */
  readonly signal: AbortSignal;
  /** A pino child logger whose lines carry the job's id, service and method. */
  readonly log: Logger;
}
