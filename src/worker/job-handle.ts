import { setMaxListeners } from 'node:events';
import { InvalidArgumentError, SchedulerError } from '../errors.ts';
import { deserialize } from '../serialization/payload.ts';
import type { JobErrorInfo } from '../store/job-store.ts';
import { JobCancelledError } from './job-errors.ts';
import type { ProgressEvent, ResultWatcher } from './result-watcher.ts';

/** The job ended `failed`: its final error (after every retry). */
export class JobFailedError extends SchedulerError {
  /** The job's id. */
  readonly jobId: number;
  /** The error as the worker recorded it, with the stack from the worker process. */
  readonly jobError: JobErrorInfo;

  constructor(jobId: number, error: JobErrorInfo) {
    super('ERR_JOB_FAILED', `job ${jobId} failed: ${error.name}: ${error.message}`);
    this.jobId = jobId;
    this.jobError = error;
  }
}

/** `result({ timeout })` gave up waiting; the job itself is untouched. */
export class ResultTimeoutError extends SchedulerError {
  constructor(jobId: number, seconds: number) {
    super('ERR_RESULT_TIMEOUT', `job ${jobId} did not finish within ${seconds} s (it goes on; wait again or cancel it)`);
  }
}

/**
 * A job added earlier, in this process or any other: its result as a
 * promise (aws-flow's future) and its progress reports.
 */
export class JobHandle<T = unknown> {
  /** The job's id in the store (`main.ts jobs show ID`). */
  readonly id: number;
  readonly #watcher: ResultWatcher;

  /** @internal Handles come from `worker.add*` and `worker.getJob`. */
  constructor(id: number, watcher: ResultWatcher) {
    this.id = id;
    this.#watcher = watcher;
  }

  /**
   * The method's return value, deserialized with the same fidelity as params.
   * Rejects with {@link JobFailedError} once the job has failed for good, with
   * `JobCancelledError` if it was cancelled, and with {@link ResultTimeoutError}
   * after `timeout` seconds (the job goes on).
   */
  async result(options: ResultOptions = {}): Promise<T> {
    const { timeout } = options;
    if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0)) {
      throw new InvalidArgumentError(`Expected \`timeout\` to be a number of seconds >= 0, got \`${String(timeout)}\``);
    }
    // Waiting stops at the timeout or when the caller's signal fires, whichever is first.
    const controller = new AbortController();
    const timer = timeout === undefined ? undefined : setTimeout(() => controller.abort(new ResultTimeoutError(this.id, timeout)), timeout * 1000);
    const stop = (): void => controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', stop, { once: true });
    if (options.signal?.aborted === true) stop();
    let job;
    try {
      job = await this.#watcher.whenFinished(this.id, controller.signal);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', stop);
    }
    if (job.state === 'succeeded') return (job.result === null ? undefined : deserialize(job.result)) as T;
    if (job.state === 'cancelled') throw new JobCancelledError();
    throw new JobFailedError(this.id, job.error ?? { name: 'Error', message: 'failed without an error' });
  }

  /**
   * Calls `callback` with the job's progress reports (`ctx.progress`) and
   * notes or warnings (`ctx.note`, `ctx.warn`), from whichever process runs
   * it: first its latest progress and the notes it left so far, then each new
   * one as it comes. Returns the unsubscribe function.
   */
  onProgress(callback: (event: ProgressEvent) => void): () => void {
    return this.#watcher.onProgress(this.id, callback);
  }
}

/** Options of {@link JobHandle.result}. */
export interface ResultOptions {
  /** Seconds to wait before rejecting with {@link ResultTimeoutError}. @default no limit */
  readonly timeout?: number;
  /** Stops waiting (rejecting with the signal's reason) when it fires. */
  readonly signal?: AbortSignal;
}

/** Resolves with the values of all handles, or rejects with the first failure (like `Promise.all`). */
export async function waitForAll<T>(handles: readonly JobHandle<T>[], options: ResultOptions = {}): Promise<T[]> {
  const giveUp = new AbortController();
  const signal = sharedSignal(giveUp, options.signal, handles.length);
  try {
    return await Promise.all(handles.map((handle) => handle.result({ ...options, signal })));
  } finally {
    giveUp.abort(); // the others stop waiting once one failed
  }
}

/**
 * Resolves with the first of `handles` to finish (succeeded, failed or
 * cancelled); `await handle.result()` then gives its value or error at once.
 * The others stop being waited for.
 */
export async function waitForAny<T>(handles: readonly JobHandle<T>[], options: ResultOptions = {}): Promise<JobHandle<T>> {
  if (handles.length === 0) throw new InvalidArgumentError('Expected at least one handle to wait for, got none');
  const giveUp = new AbortController();
  const signal = sharedSignal(giveUp, options.signal, handles.length);
  try {
    return await Promise.race(handles.map((handle) => handle.result({ ...options, signal }).then(
      () => handle,
      (error: unknown) => {
        if (error instanceof JobFailedError || error instanceof JobCancelledError) return handle;
        throw error;
      },
    )));
  } finally {
    giveUp.abort();
  }
}

/**
 * The one signal all of a wait's handles listen on: `giveUp`'s, or it and the
 * caller's. Each handle adds a listener, which is no leak: without raising
 * the limit, Node would warn of one past ten handles.
 */
function sharedSignal(giveUp: AbortController, callers: AbortSignal | undefined, handles: number): AbortSignal {
  const signal = callers === undefined ? giveUp.signal : AbortSignal.any([giveUp.signal, callers]);
  setMaxListeners(Math.max(handles + 1, 10), signal);
  return signal;
}
