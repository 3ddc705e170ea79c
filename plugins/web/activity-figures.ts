import type { FinishedJobActivity } from '../../src/store/job-store.ts';

/** p50, p95 and p99 of some durations, in milliseconds; null where there were none. */
export interface Percentiles {
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/** One minute of the overview's charts. */
export interface MinuteFigures {
  /** Start of the minute, epoch ms. */
  readonly at: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly cancelled: number;
  /** From due (run time, or adding if later) to start. */
  readonly wait: Percentiles;
  /** From start to finish. */
  readonly run: Percentiles;
}

/** The nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? null;
}

export function percentiles(values: readonly number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

/** How long a job waited once due: a scheduled job is not waiting before its run time. */
export function waitMs(job: FinishedJobActivity): number | null {
  return job.startedAt === null ? null : Math.max(0, job.startedAt - Math.max(job.runAt, job.createdAt));
}

export function runMs(job: FinishedJobActivity): number | null {
  return job.startedAt === null ? null : Math.max(0, job.finishedAt - job.startedAt);
}

/**
 * The last `minutes` whole minutes up to `now`, oldest first: finished jobs by
 * outcome, and wait and run percentiles of the jobs that finished in each.
 */
export function minuteFigures(jobs: readonly FinishedJobActivity[], now: number, minutes = 60): MinuteFigures[] {
  const MINUTE = 60_000;
  const last = Math.floor(now / MINUTE) * MINUTE;
  const first = last - (minutes - 1) * MINUTE;
  const buckets = Array.from({ length: minutes }, () => ({ succeeded: 0, failed: 0, cancelled: 0, waits: [] as number[], runs: [] as number[] }));
  for (const job of jobs) {
    const bucket = buckets[Math.floor((job.finishedAt - first) / MINUTE)];
    if (bucket === undefined) continue;
    bucket[job.state]++;
    const wait = waitMs(job);
    const run = runMs(job);
    if (wait !== null) bucket.waits.push(wait);
    if (run !== null) bucket.runs.push(run);
  }
  return buckets.map((b, i) => ({ at: first + i * MINUTE, succeeded: b.succeeded, failed: b.failed, cancelled: b.cancelled, wait: percentiles(b.waits), run: percentiles(b.runs) }));
}
