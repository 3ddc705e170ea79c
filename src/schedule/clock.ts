/** Where "now" comes from. Production uses the system's clocks; tests inject their own. */
export interface Clock {
  /** Milliseconds since the UTC epoch: for instants that are stored (run times, finish times). It may step. */
  now(): number;
  /**
   * Milliseconds on a clock that never steps (`performance.now()`): for
   * durations, heartbeats and liveness, which a wall-clock step must not
   * move. Only differences between two readings mean anything.
   * @default performance.now()
   */
  monotonic?(): number;
}

/** The system's clocks. */
export const systemClock: Required<Clock> = { now: () => Date.now(), monotonic: () => performance.now() };

/** `clock.monotonic()`, or the system's monotonic clock for a clock that has none. */
export function monotonicOf(clock: Clock): () => number {
  return clock.monotonic === undefined ? systemClock.monotonic : () => clock.monotonic!();
}
