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
  /**
   * Reports progress (Gearman WORK_STATUS): `current` of `total`, 0 ≤ current ≤ total, total > 0.
   * The latest report is stored with the job and reaches `handle.onProgress` in any process.
   */
  progress(current: number, total: number): void;
  /** Leaves a note with the job (Gearman WORK_DATA), shown by `jobs show`. */
  note(message: string): void;
  /** Leaves a warning with the job (Gearman WORK_WARNING), also logged at warn level. */
  warn(message: string): void;
}
