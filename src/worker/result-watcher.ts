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

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

/** Re-checks at most this often under a stream of change signals. */
const MIN_CHECK_INTERVAL_MS = 5;
/** A slow re-check, in case a change signal was missed; it also keeps the process alive while someone waits. */
const FALLBACK_CHECK_MS = 1000;

/**
 * One listener per process for every job someone awaits (aws-flow's
 * ResultWorker): on each change signal from the store it asks, in one query,
 * how the awaited jobs stand, and settles or notifies only those that
 * changed. Nothing polls the database in a tight loop, however many jobs are
 * awaited.
 */
export class ResultWatcher {
  readonly #store: JobStore;
  readonly #finishWaiters = new Map<number, Set<(outcome: JobOutcome) => void>>();
  readonly #progressWatches = new Map<number, ProgressWatch>();
  #unsubscribe: (() => void) | undefined;
  #fallback: NodeJS.Timeout | undefined;
  #lastCheck = 0;
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
    if (this.#checking) {
      this.#again = true;
      return;
    }
    if (this.#scheduled !== undefined) return;
    const wait = Math.max(0, this.#lastCheck + MIN_CHECK_INTERVAL_MS - Date.now());
    this.#scheduled = setTimeout(() => {
      this.#scheduled = undefined;
      void this.#check();
    }, wait);
  }

  async #check(): Promise<void> {
    this.#checking = true;
    try {
      do {
        this.#again = false;
        this.#lastCheck = Date.now();
        const ids = [...new Set([...this.#finishWaiters.keys(), ...this.#progressWatches.keys()])];
        const finished: number[] = [];
        for (const pulse of await this.#store.pulse(ids)) {
          const watch = this.#progressWatches.get(pulse.id);
          if (watch !== undefined) await this.#reportProgress(pulse.id, watch, pulse.progressAt, pulse.lastNoteId);
          if (FINISHED.has(pulse.state) && this.#finishWaiters.has(pulse.id)) finished.push(pulse.id);
        }
        // Every job that finished since the last look, in one read (a job read at a time cost ~40 µs each).
        if (finished.length > 0) for (const outcome of await this.#store.outcomes(finished)) this.#settle(outcome);
      } while (this.#again);
    } catch {
      // A failed check (the file being replaced, a busy database) is retried by the next signal or the fallback.
    } finally {
      this.#checking = false;
    }
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
