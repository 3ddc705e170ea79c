import { JobTargetError, SerializationError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Clock } from '../schedule/clock.ts';
import { setLongTimeout, type LongTimeout } from '../schedule/long-timer.ts';
import { deserialize, serialize } from '../serialization/payload.ts';
import type { ClaimedJob, Completion, JobErrorInfo, ParentOutcome } from '../store/job-store.ts';
import { retryDelayMs, type BackoffOptions } from './backoff.ts';
import type { JobContext, JobParent } from './job-context.ts';
import type { ProgressBuffer } from './progress-buffer.ts';
import type { FinishedJob } from './worker-events.ts';
import { JobCancelledError, JobTimeoutError, NonRetryableError } from './job-errors.ts';
import type { JobTarget } from './resolve-target.ts';
import type { RunningAttempts } from './running-attempts.ts';

/** What running one job needs from its worker. */
export interface JobRunner {
  /** Finds `service.method` (cached by the worker); throws JobTargetError. */
  readonly resolve: (service: string, method: string) => JobTarget;
  readonly owner: string;
  readonly clock: Clock;
  /** Durations: a clock that never steps. */
  readonly monotonic: () => number;
  readonly backoff: BackoffOptions;
  readonly random: () => number;
  readonly log: Logger;
  /** Applies to jobs stored without a timeout; null for none. */
  readonly defaultTimeoutMs: number | null;
  /**
   * Called when an attempt was ended by its signal (timeout, cancellation)
   * but the method has not returned: it may still be running. `settled`
   * resolves when it finally does.
   */
  readonly onLingering: (jobId: number, settled: Promise<unknown>) => void;
  /** Where `ctx.progress`, `ctx.note` and `ctx.warn` go until the worker writes them. */
  readonly progress: ProgressBuffer;
  /** Asks the worker to write buffered progress soon. */
  readonly onProgress: () => void;
  /** Largest result, in bytes of stored text. */
  readonly maxResultBytes: number;
  /**
   * Called once per attempt, when its method has settled (or, for an
   * attempt given back or lost, when it was): `attempt.end` says what to do.
   */
  readonly finished: (attempt: JobAttempt) => void;
}

/**
 * How an attempt ended, as far as the store goes: `record` its outcome;
 * `release` it unfinished (the worker is shutting down: the attempt is not
 * counted); `drop` it (the store no longer holds it for this worker: taken
 * back by another, or its database was deleted; nothing to write).
 */
export type AttemptEnd =
  | { readonly kind: 'record'; readonly completion: Completion }
  | { readonly kind: 'release' }
  | { readonly kind: 'drop' };

const RELEASE: AttemptEnd = { kind: 'release' };
const DROP: AttemptEnd = { kind: 'drop' };

/**
 * One attempt at a claimed job: resolve → call → serialize, and whatever
 * happens turned into how it ends ({@link AttemptEnd}), handed to
 * `runner.finished` exactly once, when the method has settled.
 *
 * An attempt is decided when the method settles or when it is aborted
 * (timeout, cancellation, shutdown, a lease lost), whichever comes first;
 * but a method that ignores its signal may still be running, so an aborted
 * attempt stays the worker's (its slot taken, its lease renewed) until the
 * method settles or the process is gone: a timed-out attempt never runs at
 * the same time as its own retry. Only then is its outcome recorded.
 *
 * A class with its state in fields, not a nest of closures: the worker makes
 * one per job, and per-job allocations are most of its cost on short jobs.
 * It is also the {@link FinishedJob} the worker's events read, once finished.
 */
/**
 * A claimed job as the worker runs it: with how its parents ended, read
 * after the claim for a job that ran after others (`ctx.parents`), or the
 * error that kept them from being read.
 */
export type RunnableJob = ClaimedJob & { readonly parentOutcomes?: readonly ParentOutcome[] | Error };

export class JobAttempt implements FinishedJob {
  readonly job: RunnableJob;
  /** Wall-clock start, as recorded. */
  readonly startedAt: number;
  readonly #startedMono: number;
  /** How it ended; meaningful once decided (see {@link decided}). */
  end: AttemptEnd = DROP;
  /** How long the attempt took, on the monotonic clock; set when decided. */
  durationMs = 0;
  /** @internal Where the worker keeps it while it runs ({@link RunningAttempts}); -1 when not running. */
  slot = -1;
  readonly #runner: JobRunner;
  #decided = false;
  #settled = false;
  #timer: LongTimeout | undefined;
  // Made only if the method looks at ctx.signal: most never do, and it is not free.
  #controller: AbortController | undefined;
  #abortReason: Error | undefined;
  #work: Promise<void> | undefined;
  #log: Logger | undefined;

  constructor(job: ClaimedJob, runner: JobRunner) {
    this.job = job;
    this.#runner = runner;
    this.startedAt = runner.clock.now();
    this.#startedMono = runner.monotonic();
  }

  /** The outcome of {@link FinishedJob}: the completion to record, if this attempt has one. */
  get completion(): Completion | undefined {
    return this.end.kind === 'record' ? this.end.completion : undefined;
  }

  /** Whether how it ends is known (its method may still be running: see {@link lingering}). */
  get decided(): boolean {
    return this.#decided;
  }

  /** Decided as `drop`: the store no longer holds it for this worker, which writes nothing for it. */
  get dropped(): boolean {
    return this.#decided && this.end.kind === 'drop';
  }

  /** Aborted, but its method has not settled: it may still be running. */
  get lingering(): boolean {
    return this.#decided && !this.#settled;
  }

  /** Calls the method. Its outcome may be reported before this returns (a method that throws at once). */
  start(): void {
    const timeoutMs = this.job.timeoutMs ?? this.#runner.defaultTimeoutMs;
    if (timeoutMs !== null) this.#timer = setLongTimeout(() => this.abort(new JobTimeoutError(timeoutMs)), timeoutMs);
    this.#work = this.#run();
  }

  /**
   * Decides the attempt now with `reason` (a timeout, a cancellation) and
   * fires the job's signal; the outcome is recorded once the method
   * settles. With `end` (`release` at shutdown, `drop` for a lease lost),
   * that is how it ends instead, even if it was decided already: an
   * outcome the worker can no longer record, or will not.
   */
  abort(reason: Error, end?: AttemptEnd): void {
    if (this.#settled) return;
    if (end === undefined && this.#decided) return;
    if (this.#abortReason === undefined) {
      this.#abortReason = reason;
      this.#controller?.abort(reason);
    }
    if (end !== undefined) {
      if (this.#decided) this.end = end;
      else this.#decide(end);
      return;
    }
    this.#fail(reason);
    // The method has not returned: it may still be running, and only its settling finishes the attempt.
    if (this.#work !== undefined) this.#runner.onLingering(this.job.id, this.#work);
  }

  /** @internal For {@link AttemptContext}. */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.#abortReason !== undefined && !this.#controller.signal.aborted) this.#controller.abort(this.#abortReason);
    return this.#controller.signal;
  }

  /** @internal A child logger carrying the job's id, service and method. */
  get log(): Logger {
    return (this.#log ??= this.#runner.log.child({ jobId: this.job.id, service: this.job.service, method: this.job.method }));
  }

  /** @internal */
  get runner(): JobRunner {
    return this.#runner;
  }

  async #run(): Promise<void> {
    const { job } = this;
    const runner = this.#runner;
    let value: unknown;
    try {
      const target = runner.resolve(job.service, job.method);
      if (runner.log.isLevelEnabled('debug')) this.log.debug({ attempt: job.attempt }, 'job started');
      value = await target.fn.call(target.thisArg, deserialize(job.params), new AttemptContext(this));
    } catch (error) {
      if (!this.#decided) this.#fail(error);
      this.#settle();
      return;
    }
    if (!this.#decided) {
      let result: string | null | undefined;
      try {
        // Most methods return nothing: stored as NULL, which reads back as undefined, not 51 bytes of superjson a job.
        result = value === undefined ? null : serialize(value, 'result', runner.maxResultBytes);
      } catch (error) {
        this.#fail(error);
      }
      if (result !== undefined) {
        if (runner.log.isLevelEnabled('debug')) this.log.debug('job succeeded');
        this.#decide({ kind: 'record', completion: { id: job.id, attempt: job.attempt, database: job.database, owner: runner.owner, outcome: 'succeeded', result, at: runner.clock.now() } });
      }
    }
    this.#settle();
  }

  #fail(error: unknown): void {
    const { job } = this;
    const runner = this.#runner;
    const at = runner.clock.now();
    const ref = { id: job.id, attempt: job.attempt, database: job.database, owner: runner.owner, at };
    if (error instanceof JobCancelledError) {
      this.log.info('job cancelled');
      this.#decide({ kind: 'record', completion: { ...ref, outcome: 'cancelled', error: errorInfo(error) } });
      return;
    }
    const final = isPermanent(error) || job.attempt >= job.maxAttempts;
    const retryAt = final ? null : at + retryDelayMs(job.attempt, runner.backoff, runner.random);
    this.log.error(
      { err: error, attempt: job.attempt, maxAttempts: job.maxAttempts, ...(retryAt === null ? {} : { retryAt: new Date(retryAt).toISOString() }) },
      retryAt === null ? 'job failed' : 'job attempt failed; will retry',
    );
    this.#decide({ kind: 'record', completion: { ...ref, outcome: 'failed', error: errorInfo(error), retryAt } });
  }

  #decide(end: AttemptEnd): void {
    this.#decided = true;
    this.#timer?.clear();
    this.end = end;
    this.durationMs = this.#runner.monotonic() - this.#startedMono;
  }

  /** The method returned or threw: the attempt is over in this process. */
  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#runner.finished(this);
  }
}

/** How an attempt given back at shutdown ends. */
export const RELEASED = RELEASE;
/** How an attempt the store no longer holds for this worker ends. */
export const DROPPED = DROP;

/**
 * The `ctx` a job method gets. Its functions are made on first use and bound,
 * so `({ progress }) => progress(1, 2)` works, and a method that uses none
 * costs none.
 */
class AttemptContext implements JobContext {
  #parents: readonly JobParent[] | undefined;
  readonly id: number;
  readonly service: string;
  readonly method: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly #attempt: JobAttempt;
  #progress: JobContext['progress'] | undefined;
  #note: JobContext['note'] | undefined;
  #warn: JobContext['warn'] | undefined;

  constructor(attempt: JobAttempt) {
    const { job } = attempt;
    this.id = job.id;
    this.service = job.service;
    this.method = job.method;
    this.attempt = job.attempt;
    this.maxAttempts = job.maxAttempts;
    this.#attempt = attempt;
  }

  get signal(): AbortSignal {
    return this.#attempt.signal;
  }

  get parents(): readonly JobParent[] {
    const outcomes = this.#attempt.job.parentOutcomes;
    if (outcomes instanceof Error) throw outcomes;
    // Results deserialized on first use, once: types intact (a Date stays a Date).
    return (this.#parents ??= (outcomes ?? []).map((parent) => Object.freeze({
      id: parent.id,
      service: parent.service,
      method: parent.method,
      state: parent.state,
      result: parent.result === null ? undefined : deserialize(parent.result),
      error: parent.error,
    })));
  }

  get log(): Logger {
    return this.#attempt.log;
  }

  get progress(): JobContext['progress'] {
    const { runner } = this.#attempt;
    return (this.#progress ??= (current, total) => {
      runner.progress.progress(this.#attempt.job, current, total, runner.clock.now());
      runner.onProgress();
    });
  }

  get note(): JobContext['note'] {
    const { runner } = this.#attempt;
    return (this.#note ??= (message) => {
      runner.progress.note(this.#attempt.job, 'note', message, runner.clock.now());
      runner.onProgress();
    });
  }

  get warn(): JobContext['warn'] {
    const { runner } = this.#attempt;
    return (this.#warn ??= (message) => {
      runner.progress.note(this.#attempt.job, 'warning', message, runner.clock.now());
      this.#attempt.log.warn(message);
      runner.onProgress();
    });
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
