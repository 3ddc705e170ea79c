import type { Logger } from '../log/logger.ts';
import type { JobErrorInfo, JobState } from '../store/job-store.ts';

/** How a job this one ran after ended (`ctx.parents`). */
export interface JobParent {
  readonly id: number;
  readonly service: string;
  readonly method: string;
  /** `succeeded`, or (for a job added with `onParentFailure: 'run'`) `failed` or `cancelled`; `pruned` if retention deleted it first. */
  readonly state: JobState | 'pruned';
  /** What its method returned, types intact; undefined unless it succeeded. */
  readonly result: unknown;
  readonly error: JobErrorInfo | null;
}

/** The second argument of every job method. */
export interface JobContext {
  /** The job's id in the store. */
  readonly id: number;
  readonly service: string;
  readonly method: string;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /**
   * The jobs this one ran after (its `after` option), in that order, with
   * their results: how a workflow's steps pass results on. Empty for a job
   * added without `after`.
   */
  readonly parents: readonly JobParent[];
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
