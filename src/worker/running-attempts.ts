import type { JobAttempt } from './run-job.ts';

/**
 * The attempts a worker is running, in a fixed set of slots. Not a Map keyed
 * by job id: a Map emptied and refilled by every batch rehashes as it grows
 * and shrinks, and V8 keeps each replaced table linked to the next until a
 * full GC. Once one of those tables lives in the old generation, every later
 * table and every attempt they reference survive the young-generation GCs
 * too: at full speed that was ~300 bytes a job promoted, ~12% of a drain in
 * GC pauses and tens of MB of RSS (bench/RESULTS.md, session 5). Slots are
 * reused, so the array stops growing at the worker's concurrency.
 */
export class RunningAttempts {
  readonly #slots: (JobAttempt | undefined)[] = [];
  readonly #free: number[] = [];

  /** How many attempts are running. */
  get size(): number {
    return this.#slots.length - this.#free.length;
  }

  /** Puts `attempt` in a free slot (one freed earlier, or a new one). */
  add(attempt: JobAttempt): void {
    const slot = this.#free.pop() ?? this.#slots.length;
    this.#slots[slot] = attempt;
    attempt.slot = slot;
  }

  /** Removes `attempt`; returns whether it was running here. */
  delete(attempt: JobAttempt): boolean {
    const { slot } = attempt;
    if (slot < 0 || this.#slots[slot] !== attempt) return false;
    this.#slots[slot] = undefined;
    attempt.slot = -1;
    this.#free.push(slot);
    return true;
  }

  /** The running attempt at job `id`, if any: a scan, for the rare callers (cancellation). */
  byJobId(id: number): JobAttempt | undefined {
    for (const attempt of this.#slots) if (attempt !== undefined && attempt.job.id === id) return attempt;
    return undefined;
  }

  /** The running attempts, in no particular order. */
  values(): JobAttempt[] {
    return this.#slots.filter((attempt): attempt is JobAttempt => attempt !== undefined);
  }
}
