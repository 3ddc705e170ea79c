/** Where "now" comes from. Production uses the wall clock; tests inject their own. */
export interface Clock {
  /** Milliseconds since the UTC epoch. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };
