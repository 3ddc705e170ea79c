import type { JobErrorInfo } from '../store/job-store.ts';
import { SchedulerError } from '../errors.ts';

/**
 * Throw this from a job method to say "retrying will not help": the job ends
 * `failed` at once, whatever attempts it has left.
 */
export class NonRetryableError extends SchedulerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NON_RETRYABLE', message, options);
  }
}

/** The attempt ran longer than its `timeout`. */
export class JobTimeoutError extends SchedulerError {
  constructor(timeoutMs: number) {
    super('ERR_JOB_TIMEOUT', `the job did not finish within its timeout of ${timeoutMs / 1000} s`);
  }
}

/** Someone cancelled the job while it ran (`jobs cancel`, `worker.cancel`). */
export class JobCancelledError extends SchedulerError {
  /** Why, when the store recorded a reason: a job it ran after ended failed or cancelled (`ParentFailedError`). */
  readonly reason: JobErrorInfo | null;

  constructor(reason: JobErrorInfo | null = null) {
    super('ERR_JOB_CANCELLED', reason === null ? 'the job was cancelled' : `the job was cancelled: ${reason.message}`);
    this.reason = reason;
  }
}

/** The worker stopped past its grace period; the job goes back to the queue unfinished. */
export class WorkerShutdownError extends SchedulerError {
  constructor() {
    super('ERR_WORKER_SHUTDOWN', 'the worker is shutting down');
  }
}

/**
 * This worker no longer holds the job: another worker took it back (it
 * thought this one dead), or its database was deleted since. The job's
 * signal fires with this; its outcome, if any, is not recorded.
 */
export class LeaseLostError extends SchedulerError {
  constructor(message: string) {
    super('ERR_LEASE_LOST', message);
  }
}
