import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { InvalidArgumentError, JobTargetError, SerializationError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { systemClock, type Clock } from '../schedule/clock.ts';
import { deserialize, serialize } from '../serialization/payload.ts';
import type { ClaimedJob, Completion, JobErrorInfo, JobStore } from '../store/job-store.ts';
import { retryDelayMs, type BackoffOptions } from './backoff.ts';
import { fireDueRecurring } from './fire-recurring.ts';
import type { JobContext } from './job-context.ts';
import { JobTimeoutError, NonRetryableError } from './job-errors.ts';
import { resolveTarget, type ServiceRegistry } from './resolve-target.ts';

/** Options for {@link Worker}. All durations in milliseconds. */
export interface WorkerOptions {
  readonly store: JobStore;
  /** Where `service` names are resolved: the plugin manager, or {@link serviceMap}. */
  readonly services: ServiceRegistry;
  readonly logger: Logger;
  /** Jobs run at once in this process. @default 10 */
  readonly concurrency?: number;
  /** How long a claim holds a job without a heartbeat. @default 30000 */
  readonly leaseMs?: number;
  /** Longest sleep before the wall clock is looked at again (a suspended machine, a clock change). @default 30000 */
  readonly maxSleepMs?: number;
  readonly backoff?: BackoffOptions;
  readonly clock?: Clock;
  /** Injectable jitter source for tests. */
  readonly random?: () => number;
}

/**
 * The worker loop: claim → resolve → run → record. It sleeps until the next
 * job or recurring job is due (never a fixed poll) and wakes early when the
 * store reports another process's change or a running job finishes. Outcomes
 * of jobs that finish together are recorded in one transaction.
 */
export class Worker {
  /** This worker's lease owner id: host, pid and a random part. */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #store: JobStore;
  readonly #services: ServiceRegistry;
  readonly #log: Logger;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #maxSleepMs: number;
  readonly #backoff: BackoffOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #running = new Map<number, AbortController>();
  #completions: Completion[] = [];
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #pumping = false;
  #again = false;
  #wakeTimer: NodeJS.Timeout | undefined;
  #maintenanceTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #idleWaiters: (() => void)[] = [];
  #released = new Set<number>();

  constructor(options: WorkerOptions) {
    this.#store = options.store;
    this.#services = options.services;
    this.#log = options.logger;
    this.#concurrency = options.concurrency ?? 10;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#maxSleepMs = options.maxSleepMs ?? 30_000;
    this.#backoff = options.backoff ?? {};
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    if (!Number.isInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new InvalidArgumentError(`Expected \`concurrency\` to be an integer >= 1, got \`${String(options.concurrency)}\``);
    }
  }

  /** Jobs running now. */
  get activeCount(): number {
    return this.#running.size;
  }

  /** Starts claiming. Returns at once; the loop runs until {@link stop}. */
  start(): void {
    if (this.#state !== 'new') throw new Error('a Worker can be started once');
    this.#state = 'running';
    this.#unsubscribe = this.#store.onChange(() => this.#wake());
    this.#maintenanceTimer = setInterval(() => void this.#maintain(), Math.max(100, Math.floor(this.#leaseMs / 3)));
    this.#log.info({ owner: this.owner, concurrency: this.#concurrency }, 'worker started');
    void this.#maintain();
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
    clearInterval(this.#maintenanceTimer);
    this.#unsubscribe?.();
    this.#log.info({ running: this.#running.size, graceMs }, 'worker stopping: no new claims');
    await this.#waitIdle(graceMs);
    if (this.#running.size > 0) {
      const ids = [...this.#running.keys()];
      this.#log.warn({ jobIds: ids }, 'grace period over: aborting running jobs and giving them back');
      for (const id of ids) this.#released.add(id);
      for (const controller of this.#running.values()) controller.abort(new Error('the worker is shutting down'));
      await this.#store.release(this.owner, ids);
    }
    await this.#flush();
    this.#state = 'stopped';
    this.#log.info('worker stopped');
  }

  #wake(): void {
    if (this.#state !== 'running') return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    clearTimeout(this.#wakeTimer);
    try {
      do {
        this.#again = false;
        await this.#flush();
        const now = this.#clock.now();
        await fireDueRecurring(this.#store, now, this.#log);
        const free = this.#concurrency - this.#running.size;
        if (free <= 0 || this.#state !== 'running') continue; // a finishing job wakes us
        const jobs = await this.#store.claim({ owner: this.owner, limit: free, now, leaseUntil: now + this.#leaseMs });
        for (const job of jobs) this.#start(job);
        if (jobs.length < free) await this.#sleepUntilNextDue();
      } while (this.#again && this.#state === 'running');
    } catch (error) {
      this.#log.error({ err: error }, 'worker loop failed; retrying in 1 s');
      this.#armTimer(1000);
    } finally {
      this.#pumping = false;
    }
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
    const controller = new AbortController();
    this.#running.set(job.id, controller);
    void this.#execute(job, controller).then((completion) => {
      this.#running.delete(job.id);
      // A job given back at shutdown belongs to the store again; its late outcome is not recorded.
      if (!this.#released.delete(job.id)) this.#completions.push(completion);
      if (this.#running.size === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
      if (this.#state === 'running') this.#wake();
    });
  }

  async #execute(job: ClaimedJob, controller: AbortController): Promise<Completion> {
    let log: Logger | undefined;
    const jobLog = (): Logger => (log ??= this.#log.child({ jobId: job.id, service: job.service, method: job.method }));
    try {
      const target = resolveTarget(this.#services, job.service, job.method);
      const ctx: JobContext = {
        id: job.id,
        service: job.service,
        method: job.method,
        attempt: job.attempt,
        maxAttempts: job.maxAttempts,
        signal: controller.signal,
        get log() {
          return jobLog();
        },
      };
      if (this.#log.isLevelEnabled('debug')) jobLog().debug({ attempt: job.attempt }, 'job started');
      const value = await withTimeout(target.fn.call(target.thisArg, deserialize(job.params), ctx), job.timeoutMs, controller);
      const result = serialize(value, 'result');
      if (this.#log.isLevelEnabled('debug')) jobLog().debug('job succeeded');
      return { id: job.id, owner: this.owner, outcome: 'succeeded', result, at: this.#clock.now() };
    } catch (error) {
      const at = this.#clock.now();
      const final = isPermanent(error) || job.attempt >= job.maxAttempts;
      const retryAt = final ? null : at + retryDelayMs(job.attempt, this.#backoff, this.#random);
      jobLog().error(
        { err: error, attempt: job.attempt, maxAttempts: job.maxAttempts, ...(retryAt === null ? {} : { retryAt: new Date(retryAt).toISOString() }) },
        retryAt === null ? 'job failed' : 'job attempt failed; will retry',
      );
      return { id: job.id, owner: this.owner, outcome: 'failed', error: errorInfo(error), at, retryAt };
    }
  }

  /** Records finished jobs' outcomes in one transaction. */
  async #flush(): Promise<void> {
    if (this.#completions.length === 0) return;
    const batch = this.#completions;
    this.#completions = [];
    try {
      const refused = await this.#store.complete(batch);
      if (refused.length > 0) {
        this.#log.warn({ jobIds: refused }, 'outcome not recorded: this worker no longer holds the lease (the job was taken over)');
      }
    } catch (error) {
      this.#completions.unshift(...batch);
      throw error;
    }
  }

  /** Heartbeat for this worker's leases, and recovery of leases other workers let expire. */
  async #maintain(): Promise<void> {
    try {
      const now = this.#clock.now();
      if (this.#running.size > 0) await this.#store.heartbeat(this.owner, now + this.#leaseMs);
      const recovered = await this.#store.recoverExpiredLeases(now);
      if (recovered > 0) {
        this.#log.warn({ recovered }, 'took back jobs whose worker stopped heart-beating');
        this.#wake();
      }
    } catch (error) {
      this.#log.error({ err: error }, 'lease maintenance failed');
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

/** Rejects with a JobTimeoutError (and fires the job's signal) if `work` takes longer than `timeoutMs`. */
function withTimeout<T>(work: T | Promise<T>, timeoutMs: number | null, controller: AbortController): Promise<T> {
  const promise = Promise.resolve(work);
  if (timeoutMs === null) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new JobTimeoutError(timeoutMs);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (error: unknown) => { clearTimeout(timer); reject(error); },
    );
  });
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
