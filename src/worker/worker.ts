import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { monotonicOf, systemClock, type Clock } from '../schedule/clock.ts';
import type { AttemptRef, ClaimedJob, ClaimRequest, Completion, JobStore, ParentOutcome, Refusals } from '../store/job-store.ts';
import { MethodDefaultsCache } from './method-defaults.ts';
import { ProgressBuffer } from './progress-buffer.ts';
import { emitOutcomes, WorkerEvents, type FinishedJob } from './worker-events.ts';
import { RecurringFirer } from './fire-recurring.ts';
import { JobCancelledError, LeaseLostError, WorkerShutdownError } from './job-errors.ts';
import { IntervalStats } from './interval-stats.ts';
import { BeatWatch, pruneFinished, type Retention } from './maintenance.ts';
import { ownerName } from './owner-identity.ts';
import { resolveTarget, type JobTarget } from './resolve-target.ts';
import { RunningAttempts } from './running-attempts.ts';
import { afterUnless, DROPPED, JobAttempt, type JobRunner, type RunnableJob } from './run-job.ts';
import type { WorkerOptions } from './worker-options.ts';

export type { WorkerOptions } from './worker-options.ts';

/**
 * The worker loop: claim → resolve → run → record. It sleeps until the next
 * job or recurring job is due (never a fixed poll) and wakes early when the
 * store reports a change or a running job finishes.
 *
 * Outcomes are written as soon as the jobs that finished together (in one
 * turn of the microtask queue) are known, before any other job's code can
 * run again: a job that then blocks the process cannot make finished jobs
 * run again. Freed slots are refilled on the next turn of the event loop.
 */
export class Worker {
  /** This worker's lease owner name: host, pid, a random part and where its pid means something (see owner-identity.ts). */
  readonly owner = ownerName(randomUUID().slice(0, 8));
  readonly #store: JobStore;
  readonly #log: Logger;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #livenessMs: number;
  readonly #maxSleepMs: number;
  readonly #lingerMs: number;
  readonly #retention: Retention;
  readonly #clock: Clock;
  readonly #monotonic: () => number;
  readonly #runner: JobRunner;
  readonly #onStuck: ((jobId: number) => void) | undefined;
  readonly #running = new RunningAttempts();
  readonly #progress = new ProgressBuffer();
  readonly #events: WorkerEvents;
  readonly #beats: BeatWatch;
  /** Attempts whose method settled, to write: outcomes to record, or jobs to give back. */
  #finished: FinishedAttempt[] = [];
  /** Jobs claimed with the outcomes of the jobs they replace, started on the next turn of the event loop. */
  #pendingStart: ClaimedJob[] = [];
  /** A claim is under way: no second one may count the same free slots. */
  #claiming = false;
  /** The claim under way (with outcomes, or alone), if any: stop() lets it come back and starts what it leased. */
  #claim: Promise<unknown> | undefined;
  /** The last claim found fewer due jobs than slots: the loop need not ask again until something changes or falls due. */
  #dueSeenEmpty = false;
  #flushQueued = false;
  #flushing: Promise<void> | undefined;
  /** Outcome writes sent while {@link #flushing} was under way (see {@link #writeAlongside}). */
  readonly #alongside = new Set<Promise<void>>();
  /** Batches of finished attempts whose write is under way: neither running nor waiting to be written, yet not lost. */
  readonly #writing = new Set<readonly FinishedAttempt[]>();
  #progressTimer: NodeJS.Timeout | undefined;
  #idle = false;
  #wakePending = false;
  /** When the next recurring job falls due: until then the loop does not ask. Reset by any change. */
  #recurringDueAt = 0;
  /** Counts the changes that reset {@link #recurringDueAt}: a look that began before one must not set it again. */
  #recurringChanges = 0;
  readonly #recurring: RecurringFirer;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #stopped: Promise<void> | undefined;
  #forceStop: (() => void) | undefined;
  #pumping = false;
  #again = false;
  #wakeTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #livenessTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  /** Called whenever an attempt settles or is decided: stop() waits on them. */
  #changeWaiters: (() => void)[] = [];
  /** Methods' defaults learned from jobs added without them, and sent with every claim (see {@link #withDefaults}). */
  readonly #defaults: MethodDefaultsCache;
  /** Isolated jobs running here: while one runs, nothing else is claimed (see ClaimRequest.isolated). */
  #isolatedRunning = 0;
  /** When (monotonic) the store last took a heartbeat: a worker that cannot beat must not run jobs others will take. */
  #lastBeat: number;
  #stuckReported = false;
  /** A heartbeat is on its way. */
  #beating = false;
  /** See {@link WorkerOptions.statsIntervalMs}; null for no stats lines. */
  readonly #statsIntervalMs: number | null;
  readonly #stats = new IntervalStats();
  /** Monotonic time the current stats interval began. */
  #statsSince = 0;
  #statsTimer: NodeJS.Timeout | undefined;
  #unsubscribeStats: (() => void) | undefined;

  constructor(options: WorkerOptions) {
    this.#store = options.store;
    this.#log = options.logger;
    this.#concurrency = options.concurrency ?? 10;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#livenessMs = options.livenessIntervalMs ?? 1000;
    this.#maxSleepMs = options.maxSleepMs ?? 30_000;
    this.#lingerMs = options.lingerMs ?? 5000;
    this.#retention = options.retention ?? { succeededMs: null, failedMs: null };
    this.#statsIntervalMs = options.statsIntervalMs === undefined ? 10_000 : options.statsIntervalMs;
    this.#clock = options.clock ?? systemClock;
    this.#monotonic = monotonicOf(this.#clock);
    this.#lastBeat = this.#monotonic();
    this.#beats = new BeatWatch(this.#leaseMs, this.#monotonic);
    this.#recurring = new RecurringFirer(this.#store, this.#log);
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
      monotonic: this.#monotonic,
      backoff: options.backoff ?? {},
      random: options.random ?? Math.random,
      log: options.logger,
      defaultTimeoutMs: options.defaultTimeoutMs ?? null,
      // A method still running after its attempt was decided: it keeps its slot and its lease until it settles;
      // if it does not settle soon, only a new process can stop it.
      onLingering: (jobId, settled) => {
        this.#changed();
        afterUnless(settled, this.#lingerMs, () => {
          this.#log.error({ jobId, lingerMs: this.#lingerMs }, 'a job method ignored its abort signal and is still running');
          if (!this.#stuckReported) {
            this.#stuckReported = true;
            this.#onStuck?.(jobId);
          }
        });
      },
      progress: this.#progress,
      onProgress: () => {
        // A report a job makes is written within 50 ms, batched with every other report made meanwhile.
        this.#progressTimer ??= setTimeout(() => {
          this.#progressTimer = undefined;
          void this.#flushProgress();
        }, 50);
      },
      maxResultBytes: options.maxResultBytes ?? 1024 * 1024,
      finished: (attempt) => this.#finishedHere(attempt),
    };
    this.#defaults = new MethodDefaultsCache((service, method) => this.#runner.resolve(service, method).options);
  }

  /** Jobs running now (an aborted job whose method has not returned included). */
  get activeCount(): number {
    return this.#running.size;
  }

  /** Starts claiming. Returns at once; the loop runs until {@link stop}. */
  start(): void {
    if (this.#state !== 'new') throw new Error('a Worker can be started once');
    this.#state = 'running';
    this.#unsubscribe = this.#store.onChange((change) => {
      if (change === 'outcomes' || change === 'closed') return; // our own records, or another job's: nothing new to claim
      // A recurring job may have been added or changed: look again. Added jobs alone leave the next due time as it was.
      if (change === 'recurring' || change === 'any') {
        this.#recurringDueAt = 0;
        this.#recurringChanges++;
      }
      this.#dueSeenEmpty = false;
      this.#wake();
      void this.#abortCancelled();
    });
    this.#heartbeatTimer = setInterval(() => void this.#heartbeatAndPrune(), Math.max(100, Math.floor(this.#leaseMs / 3)));
    this.#livenessTimer = setInterval(() => void this.#recoverLostJobs(), this.#livenessMs);
    void this.#heartbeatAndPrune();
    void this.#recoverLostJobs();
    this.#startStats();
    this.#log.info({ owner: this.owner, concurrency: this.#concurrency }, 'worker started');
    this.#wake();
  }

  /**
   * At the default log level nothing else says that jobs succeed (per-job
   * lines are at debug): one line per interval tells what the worker did.
   * Counted from the outcome events, which fire once an outcome is recorded,
   * so refused or lost outcomes are not counted.
   */
  #startStats(): void {
    if (this.#statsIntervalMs === null) return;
    const stats = this.#stats;
    const offs = [
      this.#events.on('succeeded', ({ durationMs }) => { stats.succeeded++; stats.time(durationMs); }),
      this.#events.on('failed', ({ durationMs }) => { stats.failed++; stats.time(durationMs); }),
      this.#events.on('retrying', ({ durationMs }) => { stats.retried++; stats.time(durationMs); }),
      this.#events.on('cancelled', ({ durationMs }) => { stats.cancelled++; stats.time(durationMs); }),
    ];
    this.#unsubscribeStats = () => { for (const off of offs) off(); };
    this.#statsSince = this.#monotonic();
    this.#statsTimer = setInterval(() => this.#logStats(), this.#statsIntervalMs);
  }

  /** Logs what happened since the last line, unless the worker was idle all along (no outcome, nothing running). */
  #logStats(): void {
    const stats = this.#stats;
    const now = this.#monotonic();
    const seconds = Math.round((now - this.#statsSince) / 100) / 10;
    this.#statsSince = now;
    const running = this.#running.size;
    if (stats.outcomes === 0 && running === 0) return;
    const p50 = rounded(stats.percentile(50));
    const p99 = rounded(stats.percentile(99));
    const times = p50 === null ? 'no run times' : `run time p50 ${p50} ms, p99 ${p99} ms`;
    this.#log.info(
      { succeeded: stats.succeeded, failed: stats.failed, retried: stats.retried, cancelled: stats.cancelled, p50Ms: p50, p99Ms: p99, running, intervalSeconds: seconds },
      `jobs in the last ${seconds} s: ${stats.succeeded} succeeded, ${stats.failed} failed, ${stats.retried} retried, ${stats.cancelled} cancelled; ${times}; ${running} running`,
    );
    stats.reset();
  }

  /** The last partial interval, once every outcome is written: a short run says what it did too. */
  #stopStats(): void {
    if (this.#statsTimer === undefined) return;
    clearInterval(this.#statsTimer);
    this.#statsTimer = undefined;
    this.#unsubscribeStats?.();
    this.#logStats();
  }

  /**
   * Stops claiming, lets running jobs finish for up to `graceMs`, then aborts
   * the rest (their signal fires) and gives them back to the store unfinished
   * (their attempt is not counted), so another worker runs them. Until the
   * last job is given back, leases are renewed and outcomes recorded as jobs
   * finish. A job already timed out or cancelled whose method has not
   * returned is recorded as such (the process is about to exit: it cannot
   * run next to its retry). Calling it again returns the same stop.
   */
  stop(graceMs = 30_000): Promise<void> {
    this.#stopped ??= this.#stop(graceMs);
    return this.#stopped;
  }

  /** Ends the grace period now: what still runs is aborted and given back at once. See {@link stop}. */
  stopNow(): Promise<void> {
    const stopping = this.stop(0);
    this.#forceStop?.();
    return stopping;
  }

  async #stop(graceMs: number): Promise<void> {
    const started = this.#state !== 'new';
    this.#state = 'stopping';
    clearTimeout(this.#wakeTimer);
    clearInterval(this.#livenessTimer);
    const undecided = (): JobAttempt[] => this.#running.values().filter((attempt) => !attempt.decided);
    // A claim under way may have leased jobs already (over a network, its answer can come after the stop request, while
    // the database says they run): they start, as jobs that were running when the stop came, and get the grace period.
    while (this.#claim !== undefined) {
      await this.#claim.catch(() => {});
      await new Promise((resolve) => setImmediate(resolve)); // the claimer's own continuation starts what it got
    }
    for (const job of this.#pendingStart.splice(0)) this.#start(job);
    if (started) this.#log.info({ running: this.#running.size, graceMs }, 'worker stopping: no new claims');
    // Jobs may finish for up to graceMs; heartbeats and outcome recording go on meanwhile.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, graceMs);
      this.#forceStop = done;
      const check = (): void => {
        if (undecided().length === 0) done();
        else this.#changeWaiters.push(check);
      };
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      check();
    });
    const left = undecided();
    if (left.length > 0) {
      this.#log.warn({ jobIds: left.map((attempt) => attempt.job.id) }, 'grace period over: aborting running jobs and giving them back');
      const refs = left.map(refOf);
      // Given back now, as they are: a later return of their methods records nothing.
      for (const attempt of left) attempt.abort(new WorkerShutdownError(), DROPPED);
      await this.#retrying('giving back running jobs', () => this.#store.release(this.owner, refs, this.#clock.now()));
    }
    // Timed out or cancelled, but their methods have not returned: recorded as such now, as this worker stops.
    for (const attempt of this.#running.values()) {
      if (!attempt.decided || attempt.end.kind !== 'record') continue;
      this.#finished.push({ end: attempt.end, completion: attempt.completion, job: attempt.job, durationMs: attempt.durationMs });
      attempt.abort(new WorkerShutdownError(), DROPPED);
    }
    await this.#flushAll();
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#progressTimer);
    this.#unsubscribe?.();
    this.#stopStats();
    try {
      await this.#store.retire(this.owner);
    } catch (error) {
      // Only bookkeeping: the owner's row stays, as a crashed worker's does.
      this.#log.warn({ err: error }, 'could not retire this worker\'s lease owner');
    }
    this.#state = 'stopped';
    if (started) this.#log.info('worker stopped');
  }

  /** An attempt's method settled (or it was given back or lost): off its slot, and its outcome to write. */
  #finishedHere(attempt: JobAttempt): void {
    this.#running.delete(attempt);
    if (attempt.job.isolated) this.#isolatedRunning--;
    if (attempt.end.kind !== 'drop') {
      this.#finished.push(attempt);
      this.#flushSoon();
    }
    this.#changed();
    if (this.#state === 'running') this.#wake();
  }

  #changed(): void {
    for (const waiter of this.#changeWaiters.splice(0)) waiter();
  }

  /**
   * Writes the outcomes of the attempts that finished, once the microtask
   * queue that finished them has run: every job settling in this turn shares
   * the write, and it commits (synchronously, on SQLite) before any timer or
   * I/O callback, where another job could block the process, runs. The same
   * transaction claims jobs for the slots they freed (one commit per batch);
   * those start on the next turn of the event loop, so that jobs that
   * finish at once cannot keep the loop in microtasks and starve timers and I/O.
   */
  #flushSoon(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#finished.length === 0) return;
    if (this.#flushing !== undefined) {
      this.#writeAlongside();
      return;
    }
    // A job's last progress reports go before its outcome: once it is finished, they would be refused.
    const flushing = this.#flushProgress().then(() => this.#writeAndClaim()).then(
      () => undefined,
      (error: unknown) => {
        this.#log.error({ err: error }, 'recording job outcomes failed; retrying in 1 s');
        setTimeout(() => this.#flushSoon(), 1000).unref();
      },
    );
    this.#flushing = flushing;
    await flushing;
    this.#flushing = undefined;
    if (this.#finished.length > 0) this.#flushSoon();
  }

  /**
   * Outcomes of attempts that finish while a write is under way go at once,
   * in a write of their own, rather than after that write's answer: over a
   * network the store sends them before this turn of the event loop ends,
   * and the server commits them even if another job blocks the process
   * before any answer comes back. (On SQLite no write is ever under way
   * across turns.) No claim goes with them: the write under way may be
   * claiming.
   */
  #writeAlongside(): void {
    const write = this.#flushProgress().then(() => this.#write(null)).then(
      () => undefined,
      (error: unknown) => {
        this.#log.error({ err: error }, 'recording job outcomes failed; retrying in 1 s');
        setTimeout(() => this.#flushSoon(), 1000).unref();
      },
    );
    this.#alongside.add(write);
    void write.finally(() => this.#alongside.delete(write));
  }

  /** Waits for the writes under way, then writes everything still to write. */
  async #flushAll(): Promise<void> {
    await this.#flushProgress();
    for (let tries = 0; this.#flushing !== undefined || this.#alongside.size > 0 || this.#finished.length > 0; tries++) {
      if (this.#flushing !== undefined || this.#alongside.size > 0) {
        await Promise.all([this.#flushing, ...this.#alongside]);
        continue;
      }
      try {
        await this.#write(null);
      } catch (error) {
        if (tries >= 4) {
          this.#log.error({ err: error, jobIds: this.#finished.map((f) => f.job.id) }, 'could not record these outcomes before stopping');
          this.#finished = [];
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** tries));
      }
    }
  }

  /**
   * Runs the loop once more, on the next turn of the event loop: every slot
   * freed in this turn is refilled by one claim.
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

  /** Writes what finished, claiming for the free slots in the same transaction when the worker may claim. */
  async #writeAndClaim(): Promise<void> {
    const request = this.#claiming ? null : this.#claimRequest();
    if (request === null) {
      await this.#write(null);
      return;
    }
    this.#claiming = true;
    try {
      const claim = this.#write(request);
      this.#claim = claim;
      const jobs = await claim;
      if (jobs.length < request.limit) this.#dueSeenEmpty = true;
      if (jobs.length > 0) {
        this.#pendingStart.push(...jobs);
        this.#wake();
      }
    } finally {
      this.#claiming = false;
      this.#claim = undefined;
    }
  }

  /** What to claim now, or null: stopping, full, or an isolated job runs (or is about to) alone. */
  #claimRequest(): ClaimRequest | null {
    if (this.#state !== 'running' || this.#isolatedRunning > 0 || this.#pendingStart.some((job) => job.isolated)) return null;
    const busy = this.#running.size + this.#pendingStart.length;
    const free = this.#concurrency - busy;
    if (free <= 0) return null;
    return { owner: this.owner, limit: free, now: this.#clock.now(), isolated: busy === 0 ? 'alone' : 'skip', defaults: this.#defaults.sent };
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    this.#again = false;
    clearTimeout(this.#wakeTimer);
    try {
      await this.#flushProgress();
      const now = this.#clock.now();
      if (now >= this.#recurringDueAt) {
        const changes = this.#recurringChanges;
        const next = await this.#recurring.fireDue(now);
        // A recurring job changed while this look was under way: what it found may be stale, so look again next turn.
        this.#recurringDueAt = changes === this.#recurringChanges ? next : 0;
      }
      // A write under way may be claiming: let it, then start what it claimed.
      if (this.#flushing !== undefined) await this.#flushing;
      for (const job of this.#pendingStart.splice(0)) this.#start(job);
      const request = this.#claimRequest();
      if (request === null) {
        // Stopping, full, or an isolated job runs alone: its end wakes the loop.
        if (this.#flushing === undefined) await this.#write(null);
      } else if (this.#dueSeenEmpty) {
        // The claim that went with the last outcomes found nothing more due: sleep until something is.
        this.#dueSeenEmpty = false;
        this.#idleIfNothingRuns();
        await this.#sleepUntilNextDue();
      } else {
        // Anything not yet written goes with the claim, in one transaction.
        this.#claiming = true;
        let jobs: ClaimedJob[];
        try {
          const claim = this.#write(request);
          this.#claim = claim;
          jobs = await claim;
        } finally {
          this.#claiming = false;
          this.#claim = undefined;
        }
        for (const job of jobs) this.#start(job);
        if (jobs.length === request.limit) {
          this.#again = true; // more may be due
        } else if (!jobs.some((job) => job.isolated)) {
          this.#idleIfNothingRuns();
          await this.#sleepUntilNextDue();
        }
      }
    } catch (error) {
      this.#log.error({ err: error }, 'worker loop failed; retrying in 1 s');
      await this.#releaseLostClaims();
      this.#armTimer(1000);
    } finally {
      this.#pumping = false;
    }
    if (this.#again) this.#wake();
  }

  /**
   * After a claim failed: a claim over a network can commit and lose its
   * answer with the connection (PostgreSQL), leaving jobs leased to this
   * worker that it never started. They are handed back, uncounted, instead
   * of waiting for a lease to expire that this worker keeps renewing.
   */
  async #releaseLostClaims(): Promise<void> {
    try {
      // Running here, or finished here with an outcome still to write: neither is lost.
      const runningHere = new Set([...this.#running.values(), ...this.#finished, ...[...this.#writing].flat()].map(({ job }) => `${job.id}:${job.attempt}`));
      const lost = (await this.#store.runningJobs(this.owner)).filter((job) => !runningHere.has(`${job.id}:${job.attempt}`));
      if (lost.length === 0) return;
      this.#log.warn({ jobIds: lost.map((job) => job.id) }, 'a claim lost its answer: handing back the jobs it leased to this worker');
      await this.#store.release(this.owner, lost, this.#clock.now());
    } catch (error) {
      this.#log.debug({ err: error }, 'could not look for claims that lost their answer; the next failure looks again');
    }
  }

  #idleIfNothingRuns(): void {
    if (this.#running.size === 0 && !this.#idle) {
      this.#idle = true;
      this.#events.emit('idle', {});
    }
  }

  async #sleepUntilNextDue(): Promise<void> {
    const next = Math.min((await this.#store.nextJobAt()) ?? Number.POSITIVE_INFINITY, this.#recurringDueAt);
    const delay = Number.isFinite(next) ? next - this.#clock.now() : this.#maxSleepMs;
    this.#armTimer(Math.min(this.#maxSleepMs, Math.max(1, delay)));
  }

  #armTimer(delayMs: number): void {
    clearTimeout(this.#wakeTimer);
    if (this.#state !== 'running') return;
    this.#wakeTimer = setTimeout(() => {
      this.#dueSeenEmpty = false;
      this.#wake();
    }, delayMs);
  }

  #start(job: ClaimedJob): void {
    const attempt = new JobAttempt(job, this.#runner);
    this.#running.add(attempt);
    if (job.isolated) this.#isolatedRunning++;
    this.#idle = false;
    if (this.#events.has('claimed')) this.#events.emit('claimed', { job });
    attempt.start();
  }

  /**
   * Writes what the finished attempts left (their outcomes, or jobs to give
   * back), and claims with `claim` in the same transaction if given. Reports
   * refusals and emits the outcome events. On failure the attempts are kept
   * for the next try.
   * @returns the jobs claimed.
   */
  async #write(claim: ClaimRequest | null): Promise<ClaimedJob[]> {
    const batch = this.#finished;
    this.#finished = [];
    this.#writing.add(batch);
    try {
      return await this.#writeBatch(batch, claim);
    } finally {
      this.#writing.delete(batch);
    }
  }

  async #writeBatch(batch: FinishedAttempt[], claim: ClaimRequest | null): Promise<ClaimedJob[]> {
    const completions: Completion[] = [];
    const releases: AttemptRef[] = [];
    for (const f of batch) {
      if (f.end.kind === 'record') completions.push(f.end.completion);
      else if (f.end.kind === 'release') releases.push(refOf(f));
    }
    let result: Refusals & { claimed: ClaimedJob[] };
    try {
      if (releases.length > 0) await this.#store.release(this.owner, releases, this.#clock.now());
      if (claim !== null) result = await this.#store.completeAndClaim(completions, claim);
      else result = { ...(completions.length > 0 ? await this.#store.complete(completions) : { refused: [], gone: [] }), claimed: [] };
    } catch (error) {
      this.#finished.unshift(...batch);
      throw error;
    }
    if (result.claimed.length > 0) result.claimed = await this.#withParents(await this.#withDefaults(result.claimed));
    if (result.refused.length > 0) {
      this.#log.warn({ jobIds: result.refused }, 'outcome not recorded: another worker took these jobs back (it judged this worker dead: no heartbeat for a lease\'s length)');
    }
    if (result.gone.length > 0) {
      this.#log.warn({ jobIds: result.gone }, 'outcome not recorded: the jobs database these jobs came from was deleted since');
    }
    if (completions.length > 0) emitOutcomes(this.#events, batch, [...result.refused, ...result.gone]);
    return result.claimed;
  }

  /**
   * Jobs that ran after others get how those ended (`ctx.parents`), in one
   * read for the batch; most batches have none and read nothing. If the read
   * fails, those jobs' attempts fail with its error (and are retried).
   */
  async #withParents(jobs: ClaimedJob[]): Promise<RunnableJob[]> {
    const dependants = jobs.filter((job) => job.parents > 0);
    if (dependants.length === 0) return jobs;
    let outcomes: Map<number, ParentOutcome[]> | Error;
    try {
      outcomes = await this.#store.parentOutcomes(dependants[0]!.database, dependants.map((job) => job.id));
    } catch (error) {
      outcomes = error instanceof Error ? error : new Error(String(error));
    }
    return jobs.map((job) => (job.parents === 0 ? job : { ...job, parentOutcomes: outcomes instanceof Error ? outcomes : (outcomes.get(job.id) ?? []) }));
  }

  /**
   * Jobs added without attempts or a timeout (by the `jobs` command, or a
   * process without the method's plugin) take their method's
   * `outsideprocess` defaults here, where the method is loaded; the store
   * records them, so a supervisor timing the job and a worker taking it back
   * go by them too. A method's defaults, once resolved, go with every claim
   * (ClaimRequest.defaults), which records them itself: only the first batch
   * of a method this worker has not run yet costs a write of its own.
   */
  async #withDefaults(jobs: ClaimedJob[]): Promise<ClaimedJob[]> {
    if (!jobs.some((job) => job.maxAttempts === 0 || job.timeoutMs === null)) return jobs;
    const found: (AttemptRef & { maxAttempts: number; timeoutMs: number | null })[] = [];
    const withDefaults = jobs.map((job) => {
      if (job.maxAttempts !== 0 && job.timeoutMs !== null) return job;
      const defaults = this.#defaults.of(job.service, job.method);
      const maxAttempts = job.maxAttempts !== 0 ? job.maxAttempts : defaults.maxAttempts;
      const timeoutMs = job.timeoutMs ?? defaults.timeoutMs;
      if (maxAttempts === job.maxAttempts && timeoutMs === job.timeoutMs) return job;
      found.push({ id: job.id, attempt: job.attempt, database: job.database, maxAttempts, timeoutMs });
      return { ...job, maxAttempts, timeoutMs };
    });
    try {
      await this.#store.applyDefaults(this.owner, found);
    } catch (error) {
      // They still apply to this attempt; a crash before they are recorded falls back to the global ones.
      this.#log.warn({ err: error }, 'could not record the method defaults of claimed jobs');
    }
    return withDefaults;
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

  /**
   * Renews this worker's leases and aborts the attempts it turns out no
   * longer to hold. A beat that has not come back (a connection the network
   * swallowed) is not sent again on top of it.
   */
  async #heartbeatAndPrune(): Promise<void> {
    this.#abortIfLeasesLapse();
    if (this.#beating) return;
    this.#beating = true;
    const now = this.#clock.now();
    const running = this.#running.values().filter((attempt) => !attempt.dropped);
    try {
      const lost = await this.#store.heartbeat(this.owner, running.map(refOf), now);
      this.#lastBeat = this.#monotonic();
      if (lost.length > 0) {
        const ids = new Set(lost.map((ref) => ref.id));
        this.#log.warn({ jobIds: [...ids] }, 'these jobs are no longer this worker\'s (taken back by another worker, or their database was deleted): aborting them');
        for (const attempt of running) {
          if (ids.has(attempt.job.id)) attempt.abort(new LeaseLostError('this worker no longer holds the job: another worker took it back, or its database was deleted'), DROPPED);
        }
      }
    } catch (error) {
      this.#log.error({ err: error }, 'lease heartbeat failed');
    } finally {
      this.#beating = false;
    }
    this.#abortIfLeasesLapse();
    if (this.#state !== 'running') return;
    try {
      const pruned = await pruneFinished(this.#store, now, this.#retention);
      if (pruned > 0) this.#log.debug({ pruned }, 'pruned finished jobs past their retention');
    } catch (error) {
      this.#log.error({ err: error }, 'pruning failed');
    }
  }

  /**
   * A worker that has not managed to beat for two thirds of a lease (two
   * beats missed) aborts everything it runs, before the lease runs out and
   * other workers take the jobs back: its outcomes would be refused anyway,
   * and their signals let the methods stop instead of running twice at once.
   * Looked at with every beat and every liveness round (each second).
   */
  #abortIfLeasesLapse(): void {
    const silentMs = this.#monotonic() - this.#lastBeat;
    if (silentMs <= (this.#leaseMs * 2) / 3) return;
    const running = this.#running.values().filter((attempt) => !attempt.dropped);
    if (running.length === 0) return;
    this.#log.error({ jobIds: running.map((attempt) => attempt.job.id), silentMs: Math.round(silentMs) }, 'could not renew leases for most of a lease: aborting running jobs, which other workers will take back');
    for (const attempt of running) attempt.abort(new LeaseLostError(`this worker could not renew its lease for ${Math.round(silentMs / 1000)} s`), DROPPED);
  }

  async #recoverLostJobs(): Promise<void> {
    this.#abortIfLeasesLapse();
    if (this.#state !== 'running') return;
    try {
      if ((await this.#beats.takeBackLostJobs(this.#store, this.owner, this.#clock.now(), this.#log)) > 0) this.#wake();
    } catch (error) {
      this.#log.error({ err: error }, 'recovering jobs of lost workers failed');
    }
  }

  /** Runs a write of the stopping worker, trying a few times: what it gives back must not stay running. */
  async #retrying(what: string, write: () => Promise<void>): Promise<void> {
    for (let tries = 0; ; tries++) {
      try {
        await write();
        return;
      } catch (error) {
        if (tries >= 4) {
          this.#log.error({ err: error }, `${what} failed; those jobs go back when this worker's lease is found expired`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** tries));
      }
    }
  }
}

/** A finished attempt as the worker writes it: what {@link JobAttempt} is once settled. */
type FinishedAttempt = FinishedJob & Pick<JobAttempt, 'end'>;

/** A run time as logged: three significant digits are plenty (the histogram is within 2.5%). */
function rounded(ms: number | null): number | null {
  return ms === null ? null : Number(ms.toPrecision(3));
}

function refOf({ job }: { readonly job: ClaimedJob }): AttemptRef {
  return { id: job.id, attempt: job.attempt, database: job.database };
}
