import { InvalidArgumentError } from '../errors.ts';
import type { AttemptRef, JobNote, Progress, ProgressUpdate } from '../store/job-store.ts';

/**
 * Progress and notes reported by running jobs, held until the worker's next
 * write. A job may report thousands of times a second; only its latest
 * progress, and its notes in order, reach the database, a batch at a time.
 */
export class ProgressBuffer {
  /** By attempt: a report is fenced by the attempt that made it, not only by its job. */
  #pending = new Map<AttemptRef, { progress: Progress | null; notes: Omit<JobNote, 'id'>[] }>();

  get size(): number {
    return this.#pending.size;
  }

  progress(attempt: AttemptRef, current: number, total: number, at: number): void {
    if (typeof total !== 'number' || !Number.isFinite(total) || total <= 0) {
      throw new InvalidArgumentError(`Expected the progress denominator to be a positive finite number, got \`${String(total)}\``);
    }
    if (typeof current !== 'number' || !Number.isFinite(current) || current < 0 || current > total) {
      throw new InvalidArgumentError(`Expected the progress numerator to be a number from 0 to ${total}, got \`${String(current)}\``);
    }
    this.#entry(attempt).progress = { current, total, at };
  }

  note(attempt: AttemptRef, level: JobNote['level'], message: unknown, at: number): void {
    if (typeof message !== 'string' || message === '') {
      throw new InvalidArgumentError(`Expected a ${level} to be a non-empty string, got ${message === '' ? 'an empty string' : `\`${String(message)}\` (${typeof message})`}`);
    }
    this.#entry(attempt).notes.push({ level, message, at });
  }

  /** Everything buffered, as updates fenced by `owner` and each report's attempt; the buffer is empty afterwards. */
  take(owner: string): ProgressUpdate[] {
    const updates = [...this.#pending].map(([{ id, attempt, database }, entry]) => ({ id, attempt, database, owner, ...entry }));
    // A new Map, not clear(): V8 links a cleared Map's old table to its new one, so a long-lived Map
    // whose table reached the old generation keeps every later table and entry alive until a full GC
    // (see RunningAttempts).
    this.#pending = new Map();
    return updates;
  }

  #entry(attempt: AttemptRef): { progress: Progress | null; notes: Omit<JobNote, 'id'>[] } {
    let entry = this.#pending.get(attempt);
    if (entry === undefined) this.#pending.set(attempt, (entry = { progress: null, notes: [] }));
    return entry;
  }
}
