import type { FinishedJobActivity, JobNote, JobRecord, JobState, JobStats, JobStore } from '../../src/store/job-store.ts';
import { minuteFigures, percentiles, runMs, waitMs, type MinuteFigures, type Percentiles } from './activity-figures.ts';

/** A live worker, as the overview lists it. */
export interface WorkerView {
  readonly owner: string;
  readonly host: string | null;
  readonly pid: number | null;
  readonly running: number;
  /** When it last renewed its leases (epoch ms), and how long ago. */
  readonly lastHeartbeatAt: number | null;
  readonly heartbeatAgeMs: number | null;
}

/** What every open page and /metrics see: one read of the database per interval, shared. */
export interface Snapshot {
  readonly at: number;
  /** Jobs by state (JobStore.stats); refreshed every few intervals (counting is the costly part). */
  readonly counts: Readonly<Record<JobState, number>>;
  readonly countsAt: number;
  /** How long the most overdue waiting job has been due, ms; 0 when none is due. */
  readonly oldestWaitingMs: number;
  /** The newest job id: grows when jobs are added (pages re-read their first page when it moves). */
  readonly newestJobId: number;
  /** The last hour, minute by minute. */
  readonly minutes: readonly MinuteFigures[];
  readonly hour: { readonly wait: Percentiles; readonly run: Percentiles };
  readonly workers: readonly WorkerView[];
  /** Failed attempts per service.method in the last hour (JobStore.stats). */
  readonly failuresLastHour: readonly { readonly service: string; readonly method: string; readonly failures: number }[];
  /** How far the most overdue recurring job is behind its next run, ms. */
  readonly recurringLagMs: number;
  readonly recurring: number;
}

/** What changed since the previous snapshot, for counters (/metrics). */
export interface SnapshotDelta {
  readonly added: number;
  readonly finished: readonly FinishedJobActivity[];
  readonly failures: readonly { readonly service: string; readonly method: string }[];
}

/** A job page's live view. */
export interface JobView {
  readonly job: JobRecord | null;
  readonly notes: readonly JobNote[];
}

/** Finished jobs among the newest this many ids make the hour's figures (bounded read; see JobStore.activity). */
const ACTIVITY_SCAN_IDS = 50_000;
/**
 * When more jobs than that were added since the last read, the read goes back to the last read's newest id (and
 * as far again before it), up to this many ids: the counters see every job that finished meanwhile. The bound
 * keeps one read's rows (a few hundred bytes each in this process) to ~100 MB.
 */
const MAX_SCAN_IDS = 500_000;
const HOUR = 3_600_000;

/**
 * The one poller of a web server. It reads the database only while someone
 * listens (a live page's server-sent events) or asks (/metrics, at most once
 * per interval), however many tabs are open: each tab gets the same
 * snapshot. Job pages register the job they show; each watched job is read
 * once per interval whatever the number of tabs showing it.
 */
export class SnapshotPoller {
  readonly #store: JobStore;
  readonly #intervalMs: number;
  readonly #listeners = new Set<(snapshot: Snapshot) => void>();
  readonly #watches = new Map<number, Set<(view: JobView) => void>>();
  readonly #lastNote = new Map<number, number>();
  readonly #onDelta: (delta: SnapshotDelta) => void;
  #timer: NodeJS.Timeout | undefined;
  #current: Snapshot | undefined;
  #refreshing: Promise<Snapshot> | undefined;
  #stats: { at: number; value: JobStats } | undefined;
  #seen = new Set<string>();
  #failureCursor: number | null = null;
  #newestJobId: number | undefined;
  #closed = false;

  readonly #scanIds: number;

  /** @param scanIds how many of the newest ids a read looks at, at least (ACTIVITY_SCAN_IDS; smaller in tests). */
  constructor(store: JobStore, intervalMs: number, onDelta: (delta: SnapshotDelta) => void = () => {}, scanIds = ACTIVITY_SCAN_IDS) {
    this.#store = store;
    this.#intervalMs = intervalMs;
    this.#onDelta = onDelta;
    this.#scanIds = scanIds;
  }

  /** The snapshot, read anew if it is older than the interval. Concurrent callers share one read. */
  async fresh(): Promise<Snapshot> {
    if (this.#current !== undefined && Date.now() - this.#current.at < this.#intervalMs) return this.#current;
    this.#refreshing ??= this.#refresh().finally(() => { this.#refreshing = undefined; });
    return this.#refreshing;
  }

  /** Calls `listener` with every new snapshot while subscribed. @returns unsubscribe. */
  subscribe(listener: (snapshot: Snapshot) => void): () => void {
    this.#listeners.add(listener);
    this.#start();
    if (this.#current !== undefined) listener(this.#current);
    return () => {
      this.#listeners.delete(listener);
      this.#stopIfIdle();
    };
  }

  /** Calls `listener` with job `id` and its new notes every interval while subscribed. @returns unsubscribe. */
  watchJob(id: number, listener: (view: JobView) => void): () => void {
    let set = this.#watches.get(id);
    if (set === undefined) this.#watches.set(id, (set = new Set()));
    set.add(listener);
    this.#start();
    return () => {
      set.delete(listener);
      if (set.size === 0) {
        this.#watches.delete(id);
        this.#lastNote.delete(id);
      }
      this.#stopIfIdle();
    };
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setInterval(() => void this.#tick(), this.#intervalMs);
    this.#timer.unref();
    void this.#tick();
  }

  #stopIfIdle(): void {
    if (this.#listeners.size > 0 || this.#watches.size > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #tick(): Promise<void> {
    try {
      if (this.#listeners.size > 0) {
        const snapshot = await this.fresh();
        for (const listener of this.#listeners) listener(snapshot);
      }
      await this.#readWatchedJobs();
    } catch {
      // A failed read (database restarting) shows as stale data; the next tick tries again.
    }
  }

  async #readWatchedJobs(): Promise<void> {
    for (const [id, listeners] of this.#watches) {
      const job = (await this.#store.getJob(id)) ?? null;
      const notes = job === null ? [] : await this.#store.getJobNotes(id, this.#lastNote.get(id) ?? 0);
      const last = notes.at(-1);
      if (last !== undefined) this.#lastNote.set(id, last.id);
      for (const listener of listeners) listener({ job, notes });
    }
  }

  async #refresh(): Promise<Snapshot> {
    const store = this.#store;
    const now = Date.now();
    const [first, failures, workers, recurring] = await Promise.all([
      store.activity(now - HOUR, this.#scanIds),
      store.attemptFailures(this.#failureCursor, 10_000),
      store.workers(now),
      store.listRecurring(),
    ]);
    let activity = first;
    const previous = this.#newestJobId;
    if (previous !== undefined && activity.newestJobId - previous > this.#scanIds / 2) {
      // Many added since the last read: the window must reach back past it, or the counters miss jobs.
      activity = await store.activity(now - HOUR, Math.min(MAX_SCAN_IDS, activity.newestJobId - previous + this.#scanIds));
    }
    // Counting finished jobs reads the table: every fifth interval is enough for a figure people glance at.
    if (this.#stats === undefined || now - this.#stats.at >= this.#intervalMs * 5) {
      this.#stats = { at: now, value: await store.stats(now) };
    }
    const stats = this.#stats.value;
    this.#emitDelta(activity.newestJobId, activity.finished, failures.failures);
    this.#failureCursor = failures.lastId;
    const waits: number[] = [];
    const runs: number[] = [];
    for (const job of activity.finished) {
      const wait = waitMs(job);
      const run = runMs(job);
      if (wait !== null) waits.push(wait);
      if (run !== null) runs.push(run);
    }
    const snapshot: Snapshot = {
      at: now,
      counts: stats.counts,
      countsAt: this.#stats.at,
      oldestWaitingMs: stats.oldestDueMs ?? 0,
      newestJobId: activity.newestJobId,
      minutes: minuteFigures(activity.finished, now),
      hour: { wait: percentiles(waits), run: percentiles(runs) },
      workers: workers.map((w) => ({ owner: w.owner, host: w.host, pid: w.pid, running: w.runningJobs, lastHeartbeatAt: w.lastHeartbeatAt, heartbeatAgeMs: w.heartbeatAgeMs })),
      failuresLastHour: stats.failuresLastHour.map((f) => ({ service: f.service, method: f.method, failures: f.failures })),
      // A paused recurring job is not late: it is meant to add nothing.
      recurringLagMs: recurring.reduce((lag, r) => (r.pausedAt === null ? Math.max(lag, now - r.nextRunAt) : lag), 0),
      recurring: recurring.length,
    };
    this.#current = snapshot;
    return snapshot;
  }

  /** Hands the counters what is new since the last read; the first read only sets where counting starts. */
  #emitDelta(newestJobId: number, finished: readonly FinishedJobActivity[], failures: AttemptFailuresList): void {
    const seen = new Set(finished.map((job) => `${job.id}:${job.finishedAt}`));
    if (this.#newestJobId !== undefined) {
      this.#onDelta({
        added: Math.max(0, newestJobId - this.#newestJobId),
        finished: finished.filter((job) => !this.#seen.has(`${job.id}:${job.finishedAt}`)),
        failures: this.#failureCursor === null ? [] : failures,
      });
    }
    this.#newestJobId = newestJobId;
    this.#seen = seen;
  }
}

type AttemptFailuresList = readonly { readonly service: string; readonly method: string }[];
