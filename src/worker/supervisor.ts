import type { ChildProcess } from 'node:child_process';
import type { Logger } from '../log/logger.ts';
import { systemClock, type Clock } from '../schedule/clock.ts';
import type { JobStore, RunningJob } from '../store/job-store.ts';
import { retryDelayMs } from './backoff.ts';
import { JobTimeoutError } from './job-errors.ts';

/** Messages a worker child sends its supervisor over IPC. */
export type ChildMessage = { readonly type: 'ready'; readonly owner: string } | { readonly type: 'beat' };

/** Exit status a worker child uses to ask to be replaced (a job method would not stop). */
export const EXIT_RECYCLE = 75;

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
  readonly clock?: Clock;
}

interface Child {
  readonly process: ChildProcess;
  readonly startedAt: number;
  owner: string | undefined;
  lastBeat: number;
  /** Why this supervisor killed it, so the exit can be accounted for. */
  killedFor: { readonly reason: 'timeout'; readonly jobs: readonly RunningJob[] } | { readonly reason: 'stuck' } | undefined;
}

/**
 * `main.ts --worker`: keeps `processes` worker children running. It restarts
 * a child that dies (its jobs go back at once, not a lease later), kills one
 * whose job runs past its timeout or whose event loop is blocked (a busy
 * loop cannot be stopped any other way), and records what that did to the
 * jobs: the timed-out job's attempt fails with a timeout error; the other
 * jobs it was running go back unfinished, their attempt not counted.
 */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #children = new Set<Child>();
  #timer: NodeJS.Timeout | undefined;
  #stopping = false;
  #recentCrashes = 0;
  #startupFailure: ((code: number) => void) | undefined;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#clock = options.clock ?? systemClock;
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
    if (outcome !== null) {
      await this.stop();
      return outcome;
    }
    this.#timer = setInterval(() => void this.#check(), this.#options.checkIntervalMs ?? 500);
    this.#log.info({ processes: this.#options.processes }, 'supervisor started');
    return null;
  }

  /** Asks every child to drain (SIGTERM) and waits for them; kills those that do not exit in time. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    const exits = [...this.#children].map((child) => new Promise<void>((resolve) => {
      if (child.process.exitCode !== null || child.process.signalCode !== null) return resolve();
      child.process.once('exit', () => resolve());
      child.process.kill('SIGTERM');
      setTimeout(() => child.process.kill('SIGKILL'), this.#options.stopTimeoutMs ?? 35_000).unref();
    }));
    await Promise.all(exits);
    // Let the exit handlers finish their bookkeeping.
    await new Promise((resolve) => setImmediate(resolve));
  }

  #spawn(): Promise<void> {
    const process = this.#options.spawn();
    const child: Child = { process, startedAt: this.#clock.now(), owner: undefined, lastBeat: this.#clock.now(), killedFor: undefined };
    this.#children.add(child);
    return new Promise<void>((resolve) => {
      process.on('message', (message: ChildMessage) => {
        child.lastBeat = this.#clock.now();
        if (message.type === 'ready') {
          child.owner = message.owner;
          resolve();
        }
      });
      process.once('exit', (code, signal) => {
        void this.#onExit(child, code, signal);
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
    if (killedFor?.reason === 'timeout') {
      const timedOut = new Set(killedFor.jobs.map((job) => job.id));
      await store.complete(killedFor.jobs.map((job) => {
        const error = new JobTimeoutError(this.#timeoutOf(job) ?? 0);
        const retryAt = job.attempt < job.maxAttempts ? now + retryDelayMs(job.attempt) : null;
        return { id: job.id, owner, outcome: 'failed' as const, error: { name: error.name, message: `${error.message}; its worker process was killed to stop it`, stack: error.stack ?? '' }, at: now, retryAt };
      }));
      const innocent = (await store.runningJobs(owner)).map((job) => job.id).filter((id) => !timedOut.has(id));
      if (innocent.length > 0) await store.release(owner, innocent, now);
      this.#log.warn({ owner, timedOut: [...timedOut], released: innocent }, 'killed a worker process to stop jobs past their timeout');
      return;
    }
    const message = killedFor?.reason === 'stuck'
      ? `its worker process was killed: its event loop was blocked for more than ${(this.#options.stuckMs ?? 20_000) / 1000} s`
      : `its worker process exited unexpectedly (${signal ?? `code ${code ?? '?'}`})`;
    const abandoned = await store.abandon(owner, now, { name: 'WorkerLostError', message });
    if (killedFor !== undefined || code !== 0 || abandoned > 0) {
      this.#log.warn({ owner, code, signal, jobsTakenBack: abandoned }, `worker process exited: ${message.replace(/^its /, '')}`);
    }
  }

  #restartLater(child: Child, recycle = false): void {
    // A child that keeps dying young is restarted ever more slowly (after a few quick tries), up to 30 s.
    const livedMs = this.#clock.now() - child.startedAt;
    this.#recentCrashes = recycle || livedMs > 10_000 ? 0 : this.#recentCrashes + 1;
    const delay = this.#recentCrashes <= 3 ? 0 : Math.min(30_000, 250 * 2 ** (this.#recentCrashes - 3));
    setTimeout(() => {
      if (!this.#stopping) void this.#spawn();
    }, delay);
  }

  /** Kills children that are stuck or hold a job past its timeout. */
  async #check(): Promise<void> {
    const now = this.#clock.now();
    const stuckMs = this.#options.stuckMs ?? 20_000;
    const graceMs = this.#options.killGraceMs ?? 5000;
    for (const child of this.#children) {
      if (child.owner === undefined || child.killedFor !== undefined) continue;
      try {
        const overdue = (await this.#options.store.runningJobs(child.owner)).filter((job) => {
          const timeout = this.#timeoutOf(job);
          return timeout !== null && now > job.startedAt + timeout + graceMs;
        });
        if (overdue.length > 0) {
          child.killedFor = { reason: 'timeout', jobs: overdue };
        } else if (now - child.lastBeat > stuckMs) {
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
