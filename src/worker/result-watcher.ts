import { DatabaseReplacedError, StoreClosedError } from '../errors.ts';
import type { JobNote, JobOutcome, JobStore, Progress } from '../store/job-store.ts';

/** What `handle.onProgress` callbacks receive. */
export type ProgressEvent =
  | ({ readonly type: 'progress' } & Progress)
  | { readonly type: 'note' | 'warning'; readonly message: string; readonly at: number };

interface FinishWaiter {
  readonly resolve: (outcome: JobOutcome) => void;
  readonly reject: (error: unknown) => void;
}

interface ProgressWatch {
  readonly callbacks: Set<(event: ProgressEvent) => void>;
  /** Called when the watch ends by itself: its job finished, its database is gone, or the store closed. */
  readonly ends: Set<() => void>;
  lastProgressAt: number | null;
  lastNoteId: number;
}

/** Re-checks at most this often under a stream of change signals... */
const MIN_CHECK_INTERVAL_MS = 5;
/**
 * ...and no sooner than this many times the last look took. A look costs
 * ~0.3 µs per awaited job (2.5 µs per watched one), so a process awaiting
 * 100,000 jobs looks about every 0.2 s and spends under a tenth of a core on it.
 */
const CHECK_COST_FACTOR = 9;
/** A slow re-check, in case a change signal was missed; it also keeps the process alive while someone waits. */
const FALLBACK_CHECK_MS = 1000;

/**
 * One listener per process for every job someone awaits (aws-flow's
 * ResultWorker): on each change signal from the store it asks, in one query
 * per database, which awaited jobs have finished and how (and in one more
 * how the jobs whose progress is watched stand), and settles or notifies
 * only those that changed. Nothing polls the database in a tight loop,
 * however many jobs are awaited.
 *
 * Jobs are known by id within a database identity (see
 * {@link JobStore.addJob}): a wait on a job of a database deleted since
 * rejects with {@link DatabaseReplacedError}; it never settles with the job
 * that got the same id in the new database.
 */
export class ResultWatcher {
  readonly #store: JobStore;
  /** By database identity, then job id. */
  readonly #finishWaiters = new Map<string, Map<number, Set<FinishWaiter>>>();
  readonly #progressWatches = new Map<string, Map<number, ProgressWatch>>();
  #unsubscribe: (() => void) | undefined;
  #fallback: NodeJS.Timeout | undefined;
  /** When the last look started and how long its queries took, on `performance.now()`'s clock. */
  #lastCheck = Number.NEGATIVE_INFINITY;
  #lastCheckMs = 0;
  #scheduled: NodeJS.Timeout | undefined;
  #checking = false;
  #again = false;

  constructor(store: JobStore) {
    this.#store = store;
  }

  /** Resolves with how the job ended once it has finished (succeeded, failed or cancelled). */
  whenFinished(database: string, id: number, signal?: AbortSignal): Promise<JobOutcome> {
    return new Promise<JobOutcome>((resolve, reject) => {
      // An aborted signal fires no more events: listening to it would wait forever.
      if (signal?.aborted === true) {
        reject(signal.reason);
        return;
      }
      const waiters = entry(this.#finishWaiters, database, id, () => new Set<FinishWaiter>());
      const waiter: FinishWaiter = {
        resolve: (outcome) => {
          signal?.removeEventListener('abort', abort);
          resolve(outcome);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', abort);
          reject(error);
        },
      };
      const abort = (): void => {
        waiters.delete(waiter);
        this.#forget(database, id);
        reject(signal?.reason);
      };
      waiters.add(waiter);
      signal?.addEventListener('abort', abort, { once: true });
      this.#activate();
      this.#requestCheck();
    });
  }

  /**
   * Calls `callback` with the job's latest progress and every note it left so
   * far, then with each new one, until the job finishes (its last reports
   * included) or the returned function is called. `onEnd` is called when the
   * watch ends by itself.
   * @returns the unsubscribe function.
   */
  onProgress(database: string, id: number, callback: (event: ProgressEvent) => void, onEnd?: () => void): () => void {
    const watch = entry(this.#progressWatches, database, id, (): ProgressWatch => ({ callbacks: new Set(), ends: new Set(), lastProgressAt: null, lastNoteId: 0 }));
    watch.callbacks.add(callback);
    if (onEnd !== undefined) watch.ends.add(onEnd);
    this.#activate();
    this.#requestCheck();
    return () => {
      watch.callbacks.delete(callback);
      if (onEnd !== undefined) watch.ends.delete(onEnd);
      if (watch.callbacks.size === 0) this.#progressWatches.get(database)?.delete(id);
      this.#forget(database, id);
    };
  }

  /**
   * Ends every wait and watch: pending results reject with `error`, progress
   * watches end. The store is closing; nothing may keep the process alive.
   */
  closeAll(error: Error): void {
    for (const [database, byId] of this.#finishWaiters) {
      for (const [id, waiters] of byId) {
        for (const waiter of waiters) waiter.reject(error);
        byId.delete(id);
        this.#forget(database, id);
      }
    }
    for (const [database, byId] of this.#progressWatches) {
      for (const id of [...byId.keys()]) this.#endWatch(database, id);
    }
  }

  #activate(): void {
    if (this.#unsubscribe !== undefined) return;
    this.#unsubscribe = this.#store.onChange((change) => {
      if (change === 'closed') this.closeAll(new StoreClosedError('stopped waiting'));
      else if (change === 'outcomes' || change === 'any') this.#requestCheck();
    });
    this.#fallback = setInterval(() => this.#requestCheck(), FALLBACK_CHECK_MS);
  }

  #forget(database: string, id: number): void {
    const waiters = this.#finishWaiters.get(database);
    if (waiters?.get(id)?.size === 0) waiters.delete(id);
    if (waiters?.size === 0) this.#finishWaiters.delete(database);
    if (this.#progressWatches.get(database)?.size === 0) this.#progressWatches.delete(database);
    if (this.#finishWaiters.size > 0 || this.#progressWatches.size > 0) return;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearInterval(this.#fallback);
    clearTimeout(this.#scheduled);
    this.#scheduled = undefined;
  }

  #requestCheck(): void {
    if (this.#finishWaiters.size === 0 && this.#progressWatches.size === 0) return;
    if (this.#checking) {
      this.#again = true;
      return;
    }
    if (this.#scheduled !== undefined) return;
    const interval = Math.max(MIN_CHECK_INTERVAL_MS, this.#lastCheckMs * CHECK_COST_FACTOR);
    const wait = Math.max(0, this.#lastCheck + interval - performance.now());
    this.#scheduled = setTimeout(() => {
      this.#scheduled = undefined;
      void this.#check();
    }, wait);
  }

  /** One look. A change signal during it asks for another, after the interval (see {@link #requestCheck}). */
  async #check(): Promise<void> {
    this.#checking = true;
    this.#again = false;
    const started = performance.now();
    this.#lastCheck = started;
    try {
      // Watched jobs first, so a job's last progress is reported before its result settles.
      for (const [database, watches] of [...this.#progressWatches]) {
        try {
          for (const pulse of await this.#store.pulse(database, [...watches.keys()])) {
            const watch = watches.get(pulse.id);
            if (watch === undefined) continue;
            await this.#reportProgress(database, pulse.id, watch, pulse.progress, pulse.lastNoteId);
            if (pulse.state === 'succeeded' || pulse.state === 'failed' || pulse.state === 'cancelled') this.#endWatch(database, pulse.id);
          }
        } catch (error) {
          if (!(error instanceof DatabaseReplacedError)) throw error;
          for (const id of [...watches.keys()]) this.#endWatch(database, id);
        }
      }
      // Only the awaited jobs that have finished come back, with their outcomes: one query per database, however many wait.
      const settled: [string, JobOutcome][] = [];
      for (const [database, waiters] of [...this.#finishWaiters]) {
        try {
          for (const outcome of await this.#store.outcomes(database, [...waiters.keys()])) settled.push([database, outcome]);
        } catch (error) {
          if (!(error instanceof DatabaseReplacedError)) throw error;
          for (const [id, set] of waiters) {
            for (const waiter of set) waiter.reject(new DatabaseReplacedError(`job ${id}`, error.location));
            waiters.delete(id);
          }
          this.#forget(database, -1);
        }
      }
      // The cost of looking, which grows with the jobs awaited; not what their waiters do once settled.
      this.#lastCheckMs = performance.now() - started;
      for (const [database, outcome] of settled) this.#settle(database, outcome);
    } catch {
      // A failed check (the file being replaced, a busy database) is retried by the next signal or the fallback.
    } finally {
      this.#checking = false;
    }
    if (this.#again) this.#requestCheck();
  }

  #settle(database: string, outcome: JobOutcome): void {
    const byId = this.#finishWaiters.get(database);
    const waiters = byId?.get(outcome.id);
    if (byId === undefined || waiters === undefined) return;
    byId.delete(outcome.id);
    for (const waiter of waiters) waiter.resolve(outcome);
    this.#forget(database, outcome.id);
  }

  #endWatch(database: string, id: number): void {
    const watch = this.#progressWatches.get(database)?.get(id);
    if (watch === undefined) return;
    this.#progressWatches.get(database)?.delete(id);
    for (const end of watch.ends) {
      try {
        end();
      } catch {
        // The caller's bug; it must not stop the watcher.
      }
    }
    this.#forget(database, id);
  }

  async #reportProgress(database: string, id: number, watch: ProgressWatch, progress: Progress | null, lastNoteId: number): Promise<void> {
    const events: ProgressEvent[] = [];
    if (progress !== null && progress.at !== watch.lastProgressAt) {
      watch.lastProgressAt = progress.at;
      events.push({ type: 'progress', ...progress });
    }
    if (lastNoteId > watch.lastNoteId) {
      const notes: JobNote[] = await this.#store.getJobNotes(id, watch.lastNoteId, database);
      watch.lastNoteId = lastNoteId;
      for (const note of notes) events.push({ type: note.level, message: note.message, at: note.at });
    }
    // In the order the job made them (a progress report and notes can arrive in one write).
    for (const event of events.sort((a, b) => a.at - b.at)) {
      for (const callback of watch.callbacks) {
        try {
          callback(event);
        } catch {
          // A throwing callback is the caller's bug; it must not stop other callbacks or the watcher.
        }
      }
    }
  }
}

/** `maps.get(database).get(id)`, made with `make` where missing. */
function entry<T>(maps: Map<string, Map<number, T>>, database: string, id: number, make: () => T): T {
  let byId = maps.get(database);
  if (byId === undefined) maps.set(database, (byId = new Map()));
  let value = byId.get(id);
  if (value === undefined) byId.set(id, (value = make()));
  return value;
}
