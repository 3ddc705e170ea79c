import { InvalidArgumentError, SchedulerError } from '../errors.ts';
import { setLongTimeout, type LongTimeout } from '../schedule/long-timer.ts';
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

/** {@link JobHandle}'s private #outcome, for the waits over many handles below (set by its static block). */
let outcomeOf: <T>(handle: JobHandle<T>, signal: AbortSignal | undefined) => Promise<T>;

/**
 * A job added earlier, in this process or any other: its result as a
 * promise (aws-flow's future) and its progress reports.
 */
export class JobHandle<T = unknown> {
  /** The job's id in the store (`main.ts jobs show ID`). */
  readonly id: number;
  /**
   * The identity of the database the job is in. If that database is deleted
   * (or its schema dropped), the handle rejects with `DatabaseReplacedError`
   * rather than follow the job that gets the same id in the new one.
   */
  readonly database: string;
  readonly #watcher: ResultWatcher;

  static {
    outcomeOf = (handle, signal) => handle.#outcome(signal);
  }

  /** @internal Handles come from `worker.add*` and `worker.getJob`. */
  constructor(id: number, database: string, watcher: ResultWatcher) {
    this.id = id;
    this.database = database;
    this.#watcher = watcher;
  }

  /**
   * The method's return value, deserialized with the same fidelity as params.
   * Rejects with {@link JobFailedError} once the job has failed for good, with
   * `JobCancelledError` if it was cancelled, and with {@link ResultTimeoutError}
   * after `timeout` seconds (the job goes on).
   */
  async result(options: ResultOptions = {}): Promise<T> {
    const wait = new Wait([this.id], options);
    try {
      return await this.#outcome(wait.signals?.[0]);
    } finally {
      wait.end(false);
    }
  }

  /**
   * Calls `callback` with the job's progress reports (`ctx.progress`) and
   * notes or warnings (`ctx.note`, `ctx.warn`), from whichever process runs
   * it: first its latest progress and the notes it left so far, then each new
   * one as it comes. The watch ends by itself once the job has finished (after
   * its last reports), when its database is deleted, or when the store is
   * closed (`onEnd` is then called); call the returned function to end it
   * sooner. A watch keeps the process alive only while it lasts.
   * @returns the unsubscribe function.
   */
  onProgress(callback: (event: ProgressEvent) => void, onEnd?: () => void): () => void {
    return this.#watcher.onProgress(this.database, this.id, callback, onEnd);
  }

  /** Waits until the job has finished (or `signal` fires) and gives its value or its error. */
  async #outcome(signal: AbortSignal | undefined): Promise<T> {
    const outcome = await this.#watcher.whenFinished(this.database, this.id, signal);
    if (outcome.state === 'succeeded') return (outcome.result === null ? undefined : deserialize(outcome.result)) as T;
    if (outcome.state === 'cancelled') throw new JobCancelledError(outcome.error?.name === 'JobCancelledError' ? null : outcome.error);
    throw new JobFailedError(this.id, outcome.error ?? { name: 'Error', message: 'failed without an error' });
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
  // Always stoppable: once one has failed, the others stop being waited for.
  const wait = new Wait(handles.map((handle) => handle.id), options, true);
  let all = false;
  try {
    const values = await Promise.all(handles.map((handle, i) => outcomeOf(handle, wait.signals?.[i])));
    all = true;
    return values;
  } finally {
    wait.end(!all);
  }
}

/**
 * Resolves with the first of `handles` to finish (succeeded, failed or
 * cancelled); `await handle.result()` then gives its value or error at once.
 * The others stop being waited for.
 */
export async function waitForAny<T>(handles: readonly JobHandle<T>[], options: ResultOptions = {}): Promise<JobHandle<T>> {
  if (handles.length === 0) throw new InvalidArgumentError('Expected at least one handle to wait for, got none');
  const wait = new Wait(handles.map((handle) => handle.id), options, true);
  try {
    return await Promise.race(handles.map((handle, i) => outcomeOf(handle, wait.signals?.[i]).then(
      () => handle,
      (error: unknown) => {
        if (error instanceof JobFailedError || error instanceof JobCancelledError) return handle;
        throw error;
      },
    )));
  } finally {
    wait.end(true);
  }
}

/**
 * One wait on one or more jobs: a signal for each (none when nothing can
 * stop it), all fired together by the caller's signal, by the timeout (each
 * with its own job's {@link ResultTimeoutError}) or by {@link end}. One
 * listener on the caller's signal and one timer per wait, not per job: Node's
 * EventTarget looks through a signal's listeners on every add and remove, so
 * 20,000 waiters on one signal took seconds of CPU.
 */
class Wait {
  readonly signals: AbortSignal[] | undefined;
  readonly #controllers: AbortController[];
  readonly #timer: LongTimeout | undefined;
  readonly #caller: AbortSignal | undefined;
  readonly #onCallerAbort = (): void => this.#abort(() => this.#caller?.reason);

  /** @param stoppable whether {@link end} must be able to stop the waits even without a timeout or signal. */
  constructor(ids: readonly number[], options: ResultOptions, stoppable = false) {
    const { timeout, signal } = options;
    if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0)) {
      throw new InvalidArgumentError(`Expected \`timeout\` to be a number of seconds >= 0, got \`${String(timeout)}\``);
    }
    const needed = stoppable || timeout !== undefined || signal !== undefined;
    this.#controllers = needed ? ids.map(() => new AbortController()) : [];
    this.signals = needed ? this.#controllers.map((controller) => controller.signal) : undefined;
    if (timeout !== undefined) {
      // Not setTimeout: past about 24.8 days it fires at once.
      this.#timer = setLongTimeout(() => this.#abort((i) => new ResultTimeoutError(ids[i]!, timeout)), timeout * 1000);
    }
    this.#caller = signal;
    signal?.addEventListener('abort', this.#onCallerAbort, { once: true });
    if (signal?.aborted === true) this.#onCallerAbort();
  }

  /**
   * Lets go of the timer and the caller's signal.
   * @param stopOthers whether waits may still be pending (one failed, or one of any won): stops them.
   */
  end(stopOthers: boolean): void {
    this.#timer?.clear();
    this.#caller?.removeEventListener('abort', this.#onCallerAbort);
    if (!stopOthers) return;
    // One reason for all: abort() without one builds a DOMException, stack and all, per signal. Nobody sees it.
    const ended = new Error('the wait ended');
    this.#abort(() => ended);
  }

  #abort(reason: (index: number) => unknown): void {
    for (let i = 0; i < this.#controllers.length; i++) {
      const controller = this.#controllers[i]!;
      if (!controller.signal.aborted) controller.abort(reason(i));
    }
  }
}
