/** Retry delays: exponential with jitter, as aws-flow's `exponential_retry`. */
export interface BackoffOptions {
  /** Delay before the second attempt. @default 1000 */
  readonly baseMs?: number;
  /** Largest delay. @default 300000 (5 minutes) */
  readonly maxMs?: number;
}

/**
 * Delay before attempt `attempt + 1`: about base × 2^(attempt−1), ±25% so
 * jobs that failed together do not all retry in the same millisecond.
 * @param random injectable for tests; a number in [0, 1).
 */
export function retryDelayMs(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const base = options.baseMs ?? 1000;
  const max = options.maxMs ?? 300_000;
  const exponential = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential * (0.75 + random() * 0.5));
}
