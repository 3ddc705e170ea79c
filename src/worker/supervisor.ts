import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../log/logger.ts';
import { monotonicOf, systemClock, type Clock } from '../schedule/clock.ts';
import type { JobStore, RunningJob } from '../store/job-store.ts';
import { retryDelayMs } from './backoff.ts';
import { JobTimeoutError } from './job-errors.ts';

/** Messages a worker child sends its supervisor over IPC. */
export type ChildMessage = { readonly type: 'ready'; readonly owner: string } | { readonly type: 'beat' };

/** Exit status a worker child uses to ask to be replaced (a job method would not stop). */
export const EXIT_RECYCLE = 75;

/** How often a worker child sends its beat over IPC. */
export const CHILD_BEAT_MS = 1000;

/**
 * A child that has sent no beat for this long has a blocked event loop (its
 * beats come every second): only then is a job past its timeout taken for a
 * busy loop that nothing but killing the process stops. A responsive child
 * ends a lingering method itself, by finishing its other jobs and asking to
 * be replaced.
 */
const BLOCKED_AFTER_MS = 2.5 * CHILD_BEAT_MS;

/** Options for {@link Supervisor}. Durations in milliseconds. */
export interface SupervisorOptions {
  /** Worker child processes to keep running. */
  readonly processes: number;
  /** Starts one worker child with an IPC channel. */
  readonly spawn: () => ChildProcess;
  readonly store: JobStore;
  readonly logger: Logger;
  /** Timeout of jobs stored without one; null for none. */
  readonly defaultTimeoutMs: number | null;
  /** How long past a job's timeout its child may take to end the attempt itself before it is killed. @default 5000 */
  readonly killGraceMs?: number;
  /** A child whose event loop sends no heartbeat for this long is killed. @default 20000 */
  readonly stuckMs?: number;
  /** How often children and their jobs are checked. @default 500 */
  readonly checkIntervalMs?: number;
  /** How long children may drain on stop before they are killed. @default 35000 */
  readonly stopTimeoutMs?: number;
  /** On a forced stop, how long children may take to hand their jobs back before they are killed. @default 5000 */
  readonly forceTimeoutMs?: number;
  readonly clock?: Clock;
}

interface Child {
  readonly process: ChildProcess;
  /** Monotonic: see {@link Clock.monotonic}. */
  readonly startedAt: number;
  owner: string | undefined;
  /** Monotonic time of its last IPC message. */
  lastBeat: number;
  /** Monotonic time each running job (by id and attempt) was first seen running in it. */
  seen: Map<string, number>;
  /** Why this supervisor killed it, so the exit can be accounted for. */
  killedFor: { readonly reason: 'timeout'; readonly jobs: readonly RunningJob[] } | { readonly reason: 'stuck' } | { readonly reason: 'shutdown' } | undefined;
}

/**
 * `main.ts --worker`: keeps `processes` worker children running. It restarts
 * a child that dies (its jobs go back at once, not a lease later), kills one
 * whose job runs past its timeout in a blocked event loop or whose event loop
 * is blocked for long (a busy loop cannot be stopped any other way), and
 * records what that did to the jobs: the timed-out job's attempt fails with a
 * timeout error and its next attempt runs alone; the other jobs it was
 * running go back unfinished, their attempt not counted. Every duration is
 * measured on the monotonic clock: a wall-clock step kills nothing.
 */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #monotonic: () => number;
  readonly #children = new Set<Child>();
  #timer: NodeJS.Timeout | undefined;
  #stopping = false;
  #recentCrashes = 0;
  #startupFailure: ((code: number) => void) | undefined;
  #exits: Promise<void> | undefined;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#monotonic = monotonicOf(this.#clock);
  }

  /**
   * Starts the children and resolves once each is ready.
   * @returns null, or the exit code of a child that failed to start (bad plugins or config): there is no point restarting it.
   */
  async start(): Promise<number | null> {
    const failed = new Promise<number>((resolve) => { this.#startupFailure = resolve; });
    const ready = Promise.all(Array.from({ length: this.#options.processes }, () => this.#spawn()));
    const outcome = await Promise.race([ready.then(() => null), failed]);
    this.#startupFailure = undefined;
    // Stopped while starting (a signal during start-up): children that exit then, or die of that signal before they
    // could handle it, did not fail; the stop under way ends the process with its own status.
    if (this.#stopping) return null;
    if (outcome !== null) {
      await this.stop();
      return outcome;
    }
    this.#timer = setInterval(() => void this.#check(), this.#options.checkIntervalMs ?? 500);
    this.#log.info({ processes: this.#options.processes }, 'supervisor started');
    return null;
  }

  /** Whether {@link stop} (or {@link stopNow}) has been called. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /**
   * Asks every child to drain (one SIGTERM each) and waits for them; kills
   * those that do not exit in time, and gives their jobs back uncounted.
   * Calling it again returns the same stop.
   */
  stop(): Promise<void> {
    if (this.#exits !== undefined) return this.#exits;
    this.#stopping = true;
    clearInterval(this.#timer);
    this.#exits = this.#stopChildren(this.#options.stopTimeoutMs ?? 35_000);
    return this.#exits;
  }

  /**
   * A second, deliberate stop request: every child is asked again (a second
   * SIGTERM, which makes it hand its jobs back at once), and killed if it
   * does not exit within `forceTimeoutMs`; the jobs of a killed child are
   * given back uncounted. Resolves when every child has exited.
   */
  async stopNow(): Promise<void> {
    const stopping = this.stop();
    const deadline = this.#options.forceTimeoutMs ?? 5000;
    for (const child of this.#children) {
      if (child.process.exitCode !== null || child.process.signalCode !== null) continue;
      child.process.kill('SIGTERM');
      setTimeout(() => this.#kill(child, 'shutdown'), deadline).unref();
    }
    await stopping;
  }

  async #stopChildren(timeoutMs: number): Promise<void> {
    const exits = [...this.#children].map((child) => new Promise<void>((resolve) => {
      if (child.process.exitCode !== null || child.process.signalCode !== null) return resolve();
      child.process.once('exit', () => resolve());
      child.process.kill('SIGTERM');
      setTimeout(() => this.#kill(child, 'shutdown'), timeoutMs).unref();
    }));
    await Promise.all(exits);
    // Let the exit handlers finish their bookkeeping.
    while (this.#settling > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  /** Exit handlers still writing what a lost child's jobs became. */
  #settling = 0;

  #kill(child: Child, reason: 'shutdown'): void {
    if (child.process.exitCode !== null || child.process.signalCode !== null) return;
    child.killedFor ??= { reason };
    child.process.kill('SIGKILL');
  }

  #spawn(): Promise<void> {
    const process = this.#options.spawn();
    const now = this.#monotonic();
    const child: Child = { process, startedAt: now, owner: undefined, lastBeat: now, seen: new Map(), killedFor: undefined };
    this.#children.add(child);
    return new Promise<void>((resolve) => {
      process.on('message', (message: ChildMessage) => {
        child.lastBeat = this.#monotonic();
        if (message.type === 'ready') {
          child.owner = message.owner;
          resolve();
        }
      });
      // A child that dies mid-message closes the channel under us: nothing to do but let 'exit' account for it.
      process.on('error', (error) => this.#log.debug({ err: error }, 'worker process channel error'));
      process.once('exit', (code, signal) => {
        this.#settling++;
        void this.#onExit(child, code, signal).finally(() => { this.#settling--; });
      });
    });
  }

  async #onExit(child: Child, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    this.#children.delete(child);
    if (child.owner === undefined) {
      // It never got as far as claiming: at start-up that is bad plugins or config, not a crash.
      if (this.#startupFailure !== undefined) {
        this.#startupFailure(code ?? 1);
      } else if (!this.#stopping) {
        this.#log.error({ code, signal }, 'worker process failed to start');
        this.#restartLater(child);
      }
      return;
    }
    try {
      await this.#settleJobsOf(child, code, signal);
    } catch (error) {
      this.#log.error({ err: error, owner: child.owner }, 'could not give back the jobs of a worker process that exited');
    }
    if (!this.#stopping) this.#restartLater(child, code === EXIT_RECYCLE);
  }

  /** Accounts for the jobs a child held when it exited. */
  async #settleJobsOf(child: Child, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    const owner = child.owner!;
    const store = this.#options.store;
    const now = this.#clock.now();
    const killedFor = child.killedFor;
    if (killedFor?.reason === 'shutdown') {
      // Killed because it would not stop in time: its jobs go back as a graceful stop gives them back.
      const running = await store.runningJobs(owner);
      if (running.length > 0) await store.release(owner, running, now);
      this.#log.warn({ owner, released: running.map((job) => job.id) }, 'killed a worker process that did not stop in time; its jobs went back to the queue');
      return;
    }
    if (killedFor?.reason === 'timeout') {
      const timedOut = new Set(killedFor.jobs.map((job) => job.id));
      await store.complete(killedFor.jobs.map((job) => {
        const error = new JobTimeoutError(this.#timeoutOf(job) ?? 0);
        const retryAt = job.attempt < job.maxAttempts ? now + retryDelayMs(job.attempt) : null;
        return {
          id: job.id, attempt: job.attempt, database: job.database, owner, outcome: 'failed' as const, at: now, retryAt, isolate: true,
          error: { name: error.name, message: `${error.message}; its worker process was killed to stop it (it blocked the event loop), and its next attempt runs alone`, stack: error.stack ?? '' },
        };
      }));
      const innocent = (await store.runningJobs(owner)).filter((job) => !timedOut.has(job.id));
      if (innocent.length > 0) await store.release(owner, innocent, now);
      this.#log.warn({ owner, timedOut: [...timedOut], released: innocent.map((job) => job.id) }, 'killed a worker process to stop jobs past their timeout');
      return;
    }
    const stuck = killedFor?.reason === 'stuck';
    // A recycle is asked for (EXIT_RECYCLE): not a crash, and the jobs' errors must not call it one.
    const recycled = killedFor === undefined && code === EXIT_RECYCLE;
    const message = stuck
      ? `its worker process was killed: its event loop was blocked for more than ${(this.#options.stuckMs ?? 20_000) / 1000} s (its next attempt runs alone)`
      : recycled
        ? 'its worker process was replaced as planned (a job method ignored its abort signal) before this attempt was recorded'
        : `its worker process exited unexpectedly (${signal ?? `code ${code ?? '?'}`})`;
    // Every job of a blocked process is suspect: which one blocked it cannot be told from outside.
    const abandoned = await store.abandon(owner, now, { name: 'WorkerLostError', message }, { isolate: stuck });
    if (recycled) {
      this.#log.info({ owner, jobsTakenBack: abandoned }, 'worker process replaced as planned: a job method ignored its abort signal and only a new process stops it');
    } else if (killedFor !== undefined || code !== 0 || abandoned > 0) {
      this.#log.warn({ owner, code, signal, jobsTakenBack: abandoned }, `worker process exited: ${message.replace(/^its /, '')}`);
    }
  }

  #restartLater(child: Child, recycle = false): void {
    // A child that keeps dying young is restarted ever more slowly (after a few quick tries), up to 30 s.
    const livedMs = this.#monotonic() - child.startedAt;
    this.#recentCrashes = recycle || livedMs > 10_000 ? 0 : this.#recentCrashes + 1;
    const delay = this.#recentCrashes <= 3 ? 0 : Math.min(30_000, 250 * 2 ** (this.#recentCrashes - 3));
    setTimeout(() => {
      if (!this.#stopping) void this.#spawn();
    }, delay);
  }

  /** Kills children that are stuck, or blocked with a job past its timeout. */
  async #check(): Promise<void> {
    const stuckMs = this.#options.stuckMs ?? 20_000;
    const graceMs = this.#options.killGraceMs ?? 5000;
    for (const child of this.#children) {
      if (child.owner === undefined || child.killedFor !== undefined) continue;
      try {
        const running = await this.#options.store.runningJobs(child.owner);
        const now = this.#monotonic();
        // When each attempt was first seen running, on this process's clock: a wall-clock step moves nothing.
        const seen = new Map<string, number>();
        for (const job of running) {
          const key = `${job.id}:${job.attempt}`;
          seen.set(key, child.seen.get(key) ?? now);
        }
        child.seen = seen;
        const silentMs = now - child.lastBeat;
        const overdue = silentMs <= BLOCKED_AFTER_MS ? [] : running.filter((job) => {
          const timeout = this.#timeoutOf(job);
          return timeout !== null && now > seen.get(`${job.id}:${job.attempt}`)! + timeout + graceMs;
        });
        if (overdue.length > 0) {
          child.killedFor = { reason: 'timeout', jobs: overdue };
        } else if (silentMs > stuckMs) {
          child.killedFor = { reason: 'stuck' };
        } else {
          continue;
        }
        this.#log.warn({ owner: child.owner, reason: child.killedFor.reason }, 'killing a worker process');
        child.process.kill('SIGKILL');
      } catch (error) {
        this.#log.error({ err: error }, 'supervisor check failed');
      }
    }
  }

  #timeoutOf(job: RunningJob): number | null {
    return job.timeoutMs ?? this.#options.defaultTimeoutMs;
  }
}
