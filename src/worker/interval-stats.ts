/**
 * What a worker did since its last stats line: outcomes by kind and the run
 * times of the attempts that ended. Fed once per recorded outcome, so it
 * must cost next to nothing: run times go into a histogram of fixed size
 * (buckets 5% wide, from 1 µs to days), not a list that grows with the
 * jobs (a drain records 100,000 and more a second). A percentile is read
 * back as its bucket's middle: within about 2.5% of the true value.
 */
export class IntervalStats {
  succeeded = 0;
  failed = 0;
  /** Failed attempts that will be retried. */
  retried = 0;
  cancelled = 0;
  readonly #buckets = new Uint32Array(BUCKETS);
  #timed = 0;

  /** Outcomes recorded since the last {@link reset}. */
  get outcomes(): number {
    return this.succeeded + this.failed + this.retried + this.cancelled;
  }

  /** Counts one attempt's run time, in ms. */
  time(durationMs: number): void {
    this.#buckets[bucketOf(durationMs)]!++;
    this.#timed++;
  }

  /** The `p`-th percentile (0 < p ≤ 100) of the run times counted, in ms; null when none was. */
  percentile(p: number): number | null {
    if (this.#timed === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#timed));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#buckets[i]!;
      if (seen >= rank) return middleOf(i);
    }
    return middleOf(BUCKETS - 1);
  }

  reset(): void {
    this.succeeded = this.failed = this.retried = this.cancelled = 0;
    this.#buckets.fill(0);
    this.#timed = 0;
  }
}

/** Each bucket's upper bound is 5% above its lower one. */
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
/** Bucket 0 holds everything under 1 µs; the last, everything over 1.05^599 µs (about 60 days). */
const BUCKETS = 600;

function bucketOf(ms: number): number {
  const us = ms * 1000;
  if (!(us >= 1)) return 0; // NaN and negatives too: a clock that misbehaved must not throw here
  return Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(us) / LOG_GROWTH));
}

/** The geometric middle of bucket `i`, in ms. */
function middleOf(i: number): number {
  if (i === 0) return 0.0005;
  return (GROWTH ** (i - 1) * Math.sqrt(GROWTH)) / 1000;
}
