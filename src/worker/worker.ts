import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { systemClock, type Clock } from '../schedule/clock.ts';
import type { ClaimedJob, Completion, JobStore } from '../store/job-store.ts';
import { ProgressBuffer } from './progress-buffer.ts';
import { emitOutcomes, WorkerEvents, type FinishedJob } from './worker-events.ts';
import { RecurringFirer } from './fire-recurring.ts';
import { JobCancelledError, WorkerShutdownError } from './job-errors.ts';
import { ownerId, pruneFinished, takeBackLostJobs, type Retention } from './maintenance.ts';
import { resolveTarget, type JobTarget } from './resolve-target.ts';
import { RunningAttempts } from './running-attempts.ts';
import { afterUnless, JobAttempt, type JobRunner } from './run-job.ts';
import type { WorkerOptions } from './worker-options.ts';

export type { WorkerOptions } from './worker-options.ts';

/**
 * The worker loop: claim → resolve → run → record. It sleeps until the next
 * job or recurring job is due (never a fixed poll) and wakes early when the
 * store reports a change or a running job finishes. Outcomes of jobs that
 * finish together are recorded in one transaction.
 */
export class Worker {
  /** This worker's lease owner id: host, pid and a random part. */
  readonly owner = ownerId(randomUUID().slice(0, 8));
  readonly #store: JobStore;
  readonly #log: Logger;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #livenessMs: number;
  readonly #maxSleepMs: number;
  readonly #lingerMs: number;
  readonly #retention: Retention;
  readonly #clock: Clock;
  readonly #runner: JobRunner;
  readonly #onStuck: ((jobId: number) => void) | undefined;
  readonly #running = new RunningAttempts();
  readonly #released = new Set<number>();
  readonly #progress = new ProgressBuffer();
  readonly #events: WorkerEvents;
  #finished: FinishedJob[] = [];
  #progressTimer: NodeJS.Timeout | undefined;
  #idle = false;
  #wakePending = false;
  /** When the next recurring job falls due: until then the loop does not ask. Reset by any change. */
  #recurringDueAt = 0;
  #recurring: RecurringFirer | undefined;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #pumping = false;
  #again = false;
  #wakeTimer: NodeJS.Timeout | undefined;
  #timers: NodeJS.Timeout[] = [];
  #unsubscribe: (() => void) | undefined;
  #idleWaiters: (() => void)[] = [];
  #stuckReported = false;

  constructor(options: WorkerOptions) {
    this.#store = options.store;
    this.#log = options.logger;
    this.#concurrency = options.concurrency ?? 10;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#livenessMs = options.livenessIntervalMs ?? 1000;
    this.#maxSleepMs = options.maxSleepMs ?? 30_000;
    this.#lingerMs = options.lingerMs ?? 5000;
    this.#retention = options.retention ?? { succeededMs: null, failedMs: null };
    this.#clock = options.clock ?? systemClock;
    this.#onStuck = options.onStuck;
    this.#events = options.events ?? new WorkerEvents();
    this.#events.useLogger(options.logger);
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new InvalidArgumentError(`Expected \`concurrency\` to be an integer >= 1, got \`${String(options.concurrency)}\``);
    }
    const targets = new Map<string, Map<string, JobTarget>>();
    this.#runner = {
      // Resolved once per service.method: the worker loads every plugin before it starts.
      // By service, then method: no key string built per job.
      resolve: (service, method) => {
        const cached = targets.get(service)?.get(method);
        if (cached !== undefined) return cached;
        const target = resolveTarget(options.services, service, method); // throws for an unknown one: nothing cached
        let methods = targets.get(service);
        if (methods === undefined) targets.set(service, (methods = new Map()));
        methods.set(method, target);
        return target;
      },
      owner: this.owner,
      clock: this.#clock,
      backoff: options.backoff ?? {},
      random: options.random ?? Math.random,
      log: options.logger,
      defaultTimeoutMs: options.defaultTimeoutMs ?? null,
      // A method still running after its attempt ended: if it does not stop soon, only a new process can stop it.
      onLingering: (jobId, settled) => afterUnless(settled, this.#lingerMs, () => {
        this.#log.error({ jobId, lingerMs: this.#lingerMs }, 'a job method ignored its abort signal and is still running');
        if (!this.#stuckReported) {
          this.#stuckReported = true;
          this.#onStuck?.(jobId);
        }
      }),
      progress: this.#progress,
      onProgress: () => {
        // A report a job makes is written within 50 ms, batched with every other report made meanwhile.
        this.#progressTimer ??= setTimeout(() => {
          this.#progressTimer = undefined;
          void this.#flushProgress();
        }, 50);
      },
      maxResultBytes: options.maxResultBytes ?? 1024 * 1024,
      finished: (attempt) => {
        this.#running.delete(attempt);
        // A job given back at shutdown belongs to the store again; its late outcome is not recorded.
        if (this.#released.size === 0 || !this.#released.delete(attempt.job.id)) this.#finished.push(attempt);
        if (this.#running.size === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
        if (this.#state === 'running') this.#wake();
      },
    };
  }

  /** Jobs running now. */
  get activeCount(): number {
    return this.#running.size;
  }

  /** Starts claiming. Returns at once; the loop runs until {@link stop}. */
  start(): void {
    if (this.#state !== 'new') throw new Error('a Worker can be started once');
    this.#state = 'running';
    this.#unsubscribe = this.#store.onChange((change) => {
      if (change === 'outcomes') return; // our own records, or another job's: nothing new to claim
      this.#recurringDueAt = 0; // a recurring job may have been added or changed
      this.#wake();
      void this.#abortCancelled();
    });
    const every = (ms: number, task: () => Promise<void>): void => {
      this.#timers.push(setInterval(() => void task(), ms));
      void task();
    };
    every(Math.max(100, Math.floor(this.#leaseMs / 3)), () => this.#heartbeatAndPrune());
    every(this.#livenessMs, () => this.#recoverLostJobs());
    this.#log.info({ owner: this.owner, concurrency: this.#concurrency }, 'worker started');
    this.#wake();
  }

  /**
   * Stops claiming, lets running jobs finish for up to `graceMs`, then aborts
   * the rest and gives them back to the store unfinished (their attempt is not
   * counted), so another worker runs them.
   */
  async stop(graceMs = 30_000): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    this.#state = 'stopping';
    clearTimeout(this.#wakeTimer);
    clearTimeout(this.#progressTimer);
    this.#progressTimer = undefined;
    for (const timer of this.#timers) clearInterval(timer);
    this.#unsubscribe?.();
    this.#log.info({ running: this.#running.size, graceMs }, 'worker stopping: no new claims');
    await this.#waitIdle(graceMs);
    if (this.#running.size > 0) {
      const running = this.#running.values();
      const ids = running.map((attempt) => attempt.job.id);
      this.#log.warn({ jobIds: ids }, 'grace period over: aborting running jobs and giving them back');
      for (const id of ids) this.#released.add(id);
      for (const started of running) started.abort(new WorkerShutdownError());
      await this.#store.release(this.owner, ids, this.#clock.now());
    }
    await this.#flush();
    try {
      await this.#store.retire(this.owner);
    } catch (error) {
      // Only bookkeeping: the owner's row stays, as a crashed worker's does.
      this.#log.warn({ err: error }, 'could not retire this worker\'s lease owner');
    }
    this.#state = 'stopped';
    this.#log.info('worker stopped');
  }

  /**
   * Runs the loop once more, on the next turn of the event loop: every job
   * that finishes in this turn is recorded, and every slot it frees is filled,
   * by one transaction each instead of one per job.
   */
  #wake(): void {
    if (this.#state !== 'running') return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    if (this.#wakePending) return;
    this.#wakePending = true;
    setImmediate(() => {
      this.#wakePending = false;
      void this.#pump();
    });
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    this.#again = false;
    clearTimeout(this.#wakeTimer);
    try {
      await this.#flushProgress();
      const now = this.#clock.now();
      if (now >= this.#recurringDueAt) this.#recurringDueAt = await (this.#recurring ??= new RecurringFirer(this.#store, this.#log)).fireDue(now);
      const free = this.#concurrency - this.#running.size;
      if (free <= 0 || this.#state !== 'running') {
        await this.#flush();
      } else {
        // Record what finished and refill the freed slots in one transaction.
        const jobs = await this.#record((completions) =>
          this.#store.completeAndClaim(completions, { owner: this.owner, limit: free, now, leaseUntil: now + this.#leaseMs }));
        for (const job of jobs) this.#start(job);
        if (jobs.length === free) {
          this.#again = true; // more may be due
        } else {
          if (jobs.length === 0 && this.#running.size === 0 && !this.#idle) {
            this.#idle = true;
            this.#events.emit('idle', {});
          }
          await this.#sleepUntilNextDue();
        }
      }
    } catch (error) {
      this.#log.error({ err: error }, 'worker loop failed; retrying in 1 s');
      this.#armTimer(1000);
    } finally {
      this.#pumping = false;
    }
    if (this.#again) this.#wake();
  }

  async #sleepUntilNextDue(): Promise<void> {
    const at = await this.#store.nextWakeAt();
    const delay = at === null ? this.#maxSleepMs : at - this.#clock.now();
    this.#armTimer(Math.min(this.#maxSleepMs, Math.max(1, delay)));
  }

  #armTimer(delayMs: number): void {
    clearTimeout(this.#wakeTimer);
    if (this.#state !== 'running') return;
    this.#wakeTimer = setTimeout(() => this.#wake(), delayMs);
  }

  #start(job: ClaimedJob): void {
    const attempt = new JobAttempt(job, this.#runner);
    this.#running.add(attempt);
    this.#idle = false;
    if (this.#events.has('claimed')) this.#events.emit('claimed', { job });
    attempt.start();
  }

  /** Records finished jobs' outcomes in one transaction (after any progress they reported). */
  async #flush(): Promise<void> {
    await this.#flushProgress();
    if (this.#finished.length === 0) return;
    await this.#record(async (completions) => ({ refused: await this.#store.complete(completions), claimed: [] }));
  }

  /**
   * Hands the finished jobs' outcomes to `write` (which may claim too), then
   * reports refusals and emits the outcome events. On failure the outcomes
   * are kept for the next try.
   */
  async #record(
    write: (completions: Completion[]) => Promise<{ refused: number[]; claimed: ClaimedJob[] }>,
  ): Promise<ClaimedJob[]> {
    const batch = this.#finished;
    this.#finished = [];
    let result: { refused: number[]; claimed: ClaimedJob[] };
    try {
      result = await write(batch.map((f) => f.completion));
    } catch (error) {
      this.#finished.unshift(...batch);
      throw error;
    }
    if (result.refused.length > 0) {
      this.#log.warn({ jobIds: result.refused }, 'outcome not recorded: this worker no longer holds the lease (the job was taken over)');
    }
    if (batch.length > 0) emitOutcomes(this.#events, batch, result.refused);
    return result.claimed;
  }

  async #flushProgress(): Promise<void> {
    if (this.#progress.size === 0) return;
    try {
      await this.#store.recordProgress(this.#progress.take(this.owner));
    } catch (error) {
      this.#log.error({ err: error }, 'recording job progress failed');
    }
  }

  /** Aborts running jobs someone asked to cancel; their attempt ends `cancelled`. */
  async #abortCancelled(): Promise<void> {
    if (this.#running.size === 0) return;
    try {
      for (const id of await this.#store.cancelRequests(this.owner)) {
        this.#running.byJobId(id)?.abort(new JobCancelledError());
      }
    } catch (error) {
      this.#log.error({ err: error }, 'checking for cancelled jobs failed');
    }
  }

  async #heartbeatAndPrune(): Promise<void> {
    try {
      const now = this.#clock.now();
      if (this.#running.size > 0) await this.#store.heartbeat(this.owner, now + this.#leaseMs);
      const pruned = await pruneFinished(this.#store, now, this.#retention);
      if (pruned > 0) this.#log.debug({ pruned }, 'pruned finished jobs past their retention');
    } catch (error) {
      this.#log.error({ err: error }, 'lease heartbeat or pruning failed');
    }
  }

  async #recoverLostJobs(): Promise<void> {
    try {
      if ((await takeBackLostJobs(this.#store, this.#clock.now(), this.#log)) > 0) this.#wake();
    } catch (error) {
      this.#log.error({ err: error }, 'recovering jobs of lost workers failed');
    }
  }

  #waitIdle(timeoutMs: number): Promise<void> {
    if (this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
