import { JobTargetError, SerializationError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Clock } from '../schedule/clock.ts';
import { deserialize, serialize } from '../serialization/payload.ts';
import type { ClaimedJob, Completion, JobErrorInfo } from '../store/job-store.ts';
import { retryDelayMs, type BackoffOptions } from './backoff.ts';
import type { JobContext } from './job-context.ts';
import type { ProgressBuffer } from './progress-buffer.ts';
import { JobCancelledError, JobTimeoutError, NonRetryableError } from './job-errors.ts';
import type { JobTarget } from './resolve-target.ts';

/** What running one job needs from its worker. */
export interface JobRunner {
  /** Finds `service.method` (cached by the worker); throws JobTargetError. */
  readonly resolve: (service: string, method: string) => JobTarget;
  readonly owner: string;
  readonly clock: Clock;
  readonly backoff: BackoffOptions;
  readonly random: () => number;
  readonly log: Logger;
  /** Applies to jobs stored without a timeout; null for none. */
  readonly defaultTimeoutMs: number | null;
  /**
   * Called when an attempt was ended by its signal (timeout, cancellation,
   * shutdown) but the method has not returned: it may still be running.
   * `settled` resolves when it finally does.
   */
  readonly onLingering: (jobId: number, settled: Promise<unknown>) => void;
  /** Where `ctx.progress`, `ctx.note` and `ctx.warn` go until the worker writes them. */
  readonly progress: ProgressBuffer;
  /** Asks the worker to write buffered progress soon. */
  readonly onProgress: () => void;
  /** Largest result, in bytes of stored text. */
  readonly maxResultBytes: number;
}

/** A job the worker started: its outcome to come, and a way to end its attempt early. */
export interface StartedJob {
  readonly outcome: Promise<Completion>;
  /** Ends the attempt now with `reason` (a timeout, a cancellation, shutdown) and fires the job's signal. */
  abort(reason: Error): void;
}

/**
 * Runs one claimed job: resolve → call → serialize, and turns whatever
 * happens into the outcome to record. An attempt ends when the method settles
 * or when it is aborted (timeout, cancellation, shutdown), whichever comes
 * first, so a method that ignores its signal cannot hold its slot.
 */
export function startJob(job: ClaimedJob, runner: JobRunner): StartedJob {
  // The AbortController is made only if the method looks at ctx.signal: most never do, and it is not free.
  let controller: AbortController | undefined;
  let abortReason: Error | undefined;
  let endAttempt: ((reason: Error) => void) | undefined;
  const signal = (): AbortSignal => {
    controller ??= new AbortController();
    if (abortReason !== undefined && !controller.signal.aborted) controller.abort(abortReason);
    return controller.signal;
  };
  const abort = (reason: Error): void => {
    if (abortReason !== undefined) return;
    abortReason = reason;
    controller?.abort(reason);
    endAttempt?.(reason);
  };
  const timeoutMs = job.timeoutMs ?? runner.defaultTimeoutMs;
  const timer = timeoutMs === null ? undefined : setTimeout(() => abort(new JobTimeoutError(timeoutMs)), timeoutMs);
  const outcome = run(job, runner, signal, (work) => new Promise((resolve, reject) => {
    if (abortReason !== undefined) {
      reject(abortReason);
      return;
    }
    let settled = false;
    endAttempt = (reason) => {
      if (!settled) runner.onLingering(job.id, work.then(() => undefined, () => undefined));
      reject(reason);
    };
    work.then(
      (value) => { settled = true; resolve(value); },
      (error: unknown) => { settled = true; reject(error); },
    );
  })).finally(() => clearTimeout(timer));
  return { outcome, abort };
}

async function run(
  job: ClaimedJob,
  runner: JobRunner,
  signal: () => AbortSignal,
  untilAborted: (work: Promise<unknown>) => Promise<unknown>,
): Promise<Completion> {
  let log: Logger | undefined;
  const jobLog = (): Logger => (log ??= runner.log.child({ jobId: job.id, service: job.service, method: job.method }));
  try {
    const target = runner.resolve(job.service, job.method);
    const ctx: JobContext = {
      id: job.id,
      service: job.service,
      method: job.method,
      attempt: job.attempt,
      maxAttempts: job.maxAttempts,
      get signal() {
        return signal();
      },
      get log() {
        return jobLog();
      },
      progress: (current, total) => {
        runner.progress.progress(job.id, current, total, runner.clock.now());
        runner.onProgress();
      },
      note: (message) => {
        runner.progress.note(job.id, 'note', message, runner.clock.now());
        runner.onProgress();
      },
      warn: (message) => {
        runner.progress.note(job.id, 'warning', message, runner.clock.now());
        jobLog().warn(message);
        runner.onProgress();
      },
    };
    if (runner.log.isLevelEnabled('debug')) jobLog().debug({ attempt: job.attempt }, 'job started');
    const value = await untilAborted(Promise.resolve(target.fn.call(target.thisArg, deserialize(job.params), ctx)));
    const result = serialize(value, 'result', runner.maxResultBytes);
    if (runner.log.isLevelEnabled('debug')) jobLog().debug('job succeeded');
    return { id: job.id, owner: runner.owner, outcome: 'succeeded', result, at: runner.clock.now() };
  } catch (error) {
    const at = runner.clock.now();
    if (error instanceof JobCancelledError) {
      jobLog().info('job cancelled');
      return { id: job.id, owner: runner.owner, outcome: 'cancelled', error: errorInfo(error), at };
    }
    const final = isPermanent(error) || job.attempt >= job.maxAttempts;
    const retryAt = final ? null : at + retryDelayMs(job.attempt, runner.backoff, runner.random);
    jobLog().error(
      { err: error, attempt: job.attempt, maxAttempts: job.maxAttempts, ...(retryAt === null ? {} : { retryAt: new Date(retryAt).toISOString() }) },
      retryAt === null ? 'job failed' : 'job attempt failed; will retry',
    );
    return { id: job.id, owner: runner.owner, outcome: 'failed', error: errorInfo(error), at, retryAt };
  }
}

/** Calls `fn` after `ms` unless `settled` settles first. The timer never keeps the process alive. */
export function afterUnless(settled: Promise<unknown>, ms: number, fn: () => void): void {
  const timer = setTimeout(fn, ms);
  timer.unref();
  void settled.then(() => clearTimeout(timer));
}

/** Errors that no retry can fix. */
function isPermanent(error: unknown): boolean {
  return error instanceof NonRetryableError || error instanceof JobTargetError || error instanceof SerializationError;
}

function errorInfo(error: unknown): JobErrorInfo {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, ...(error.stack === undefined ? {} : { stack: error.stack }) };
  }
  return { name: 'Error', message: `a non-Error value was thrown: ${String(error)}` };
}
