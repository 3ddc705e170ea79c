import type { JobNote, JobOutcome, JobStore, Progress } from '../store/job-store.ts';

/** What `handle.onProgress` callbacks receive. */
export type ProgressEvent =
  | ({ readonly type: 'progress' } & Progress)
  | { readonly type: 'note' | 'warning'; readonly message: string; readonly at: number };

interface ProgressWatch {
  readonly callbacks: Set<(event: ProgressEvent) => void>;
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
 * ResultWorker): on each change signal from the store it asks, in one query,
 * which awaited jobs have finished and how (and in one more how the jobs
 * whose progress is watched stand), and settles or notifies only those that
 * changed. Nothing polls the database in a tight loop, however many jobs are
 * awaited.
 */
export class ResultWatcher {
  readonly #store: JobStore;
  readonly #finishWaiters = new Map<number, Set<(outcome: JobOutcome) => void>>();
  readonly #progressWatches = new Map<number, ProgressWatch>();
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
  whenFinished(id: number, signal?: AbortSignal): Promise<JobOutcome> {
    return new Promise<JobOutcome>((resolve, reject) => {
      // An aborted signal fires no more events: listening to it would wait forever.
      if (signal?.aborted === true) {
        reject(signal.reason);
        return;
      }
      let waiters = this.#finishWaiters.get(id);
      if (waiters === undefined) this.#finishWaiters.set(id, (waiters = new Set()));
      const done = (outcome: JobOutcome): void => {
        signal?.removeEventListener('abort', abort);
        resolve(outcome);
      };
      const abort = (): void => {
        this.#finishWaiters.get(id)?.delete(done);
        this.#forget(id);
        reject(signal?.reason);
      };
      waiters.add(done);
      signal?.addEventListener('abort', abort, { once: true });
      this.#activate();
      this.#requestCheck();
    });
  }

  /**
   * Calls `callback` with the job's latest progress and every note it left so
   * far, then with each new one. Returns the unsubscribe function.
   */
  onProgress(id: number, callback: (event: ProgressEvent) => void): () => void {
    let watch = this.#progressWatches.get(id);
    if (watch === undefined) {
      watch = { callbacks: new Set(), lastProgressAt: null, lastNoteId: 0 };
      this.#progressWatches.set(id, watch);
    }
    watch.callbacks.add(callback);
    this.#activate();
    this.#requestCheck();
    return () => {
      watch.callbacks.delete(callback);
      if (watch.callbacks.size === 0) this.#progressWatches.delete(id);
      this.#forget(id);
    };
  }

  #activate(): void {
    if (this.#unsubscribe !== undefined) return;
    this.#unsubscribe = this.#store.onChange((change) => {
      if (change !== 'work') this.#requestCheck();
    });
    this.#fallback = setInterval(() => this.#requestCheck(), FALLBACK_CHECK_MS);
  }

  #forget(id: number): void {
    if (this.#finishWaiters.get(id)?.size === 0) this.#finishWaiters.delete(id);
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
      if (this.#progressWatches.size > 0) {
        for (const pulse of await this.#store.pulse([...this.#progressWatches.keys()])) {
          const watch = this.#progressWatches.get(pulse.id);
          if (watch !== undefined) await this.#reportProgress(pulse.id, watch, pulse.progressAt, pulse.lastNoteId);
        }
      }
      // Only the awaited jobs that have finished come back, with their outcomes: one query, however many wait.
      const outcomes = this.#finishWaiters.size > 0 ? await this.#store.outcomes([...this.#finishWaiters.keys()]) : [];
      // The cost of looking, which grows with the jobs awaited; not what their waiters do once settled.
      this.#lastCheckMs = performance.now() - started;
      for (const outcome of outcomes) this.#settle(outcome);
    } catch {
      // A failed check (the file being replaced, a busy database) is retried by the next signal or the fallback.
    } finally {
      this.#checking = false;
    }
    if (this.#again) this.#requestCheck();
  }

  #settle(outcome: JobOutcome): void {
    const waiters = this.#finishWaiters.get(outcome.id);
    if (waiters === undefined) return;
    this.#finishWaiters.delete(outcome.id);
    for (const resolve of waiters) resolve(outcome);
    this.#forget(outcome.id);
  }

  async #reportProgress(id: number, watch: ProgressWatch, progressAt: number | null, lastNoteId: number): Promise<void> {
    const events: ProgressEvent[] = [];
    if (progressAt !== null && progressAt !== watch.lastProgressAt) {
      watch.lastProgressAt = progressAt;
      const progress = (await this.#store.getJob(id))?.progress;
      if (progress != null) events.push({ type: 'progress', ...progress });
    }
    if (lastNoteId > watch.lastNoteId) {
      const notes: JobNote[] = await this.#store.getJobNotes(id, watch.lastNoteId);
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
