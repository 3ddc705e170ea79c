/** The longest delay `setTimeout` takes: longer ones fire at once (Node warns and uses 1 ms). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A timer of any length: see {@link setLongTimeout}. */
export interface LongTimeout {
  clear(): void;
  /** Lets the process exit while it waits. */
  unref(): void;
}

/**
 * `setTimeout` for any delay: one over ~24.8 days is chained through timers
 * of at most 2^31 − 1 ms, where a plain `setTimeout` would fire at once.
 */
export function setLongTimeout(fn: () => void, ms: number): LongTimeout {
  let timer: NodeJS.Timeout;
  let unref = false;
  const arm = (left: number): void => {
    timer = setTimeout(left > MAX_TIMEOUT_MS ? () => arm(left - MAX_TIMEOUT_MS) : fn, Math.min(left, MAX_TIMEOUT_MS));
    if (unref) timer.unref();
  };
  arm(Math.max(0, ms));
  return {
    clear: () => clearTimeout(timer),
    unref: () => {
      unref = true;
      timer.unref();
    },
  };
}
