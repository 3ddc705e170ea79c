import { InvalidArgumentError } from '../errors.ts';

/**
 * The longest delay `setTimeout` takes. Past it Node warns
 * (TimeoutOverflowWarning) and fires after 1 ms: a 30-day timeout would
 * expire at once.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer from {@link setLongTimeout}. */
export interface LongTimeout {
  /** Cancels it; harmless after it fired. */
  clear(): void;
  /** Lets the process exit while only this timer is pending, whichever link of the chain is current. */
  unref(): void;
}

/**
 * `setTimeout` for any delay: chains timers of at most {@link MAX_TIMER_MS},
 * holding one at a time, and calls `fn` once after `ms` milliseconds.
 * @throws InvalidArgumentError unless `ms` is a finite number >= 0.
 */
export function setLongTimeout(fn: () => void, ms: number): LongTimeout {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new InvalidArgumentError(`Expected \`ms\` to be a finite number >= 0, got \`${String(ms)}\` (${typeof ms})`);
  }
  let remaining = ms;
  let unref = false;
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const link = Math.min(remaining, MAX_TIMER_MS);
    remaining -= link;
    timer = setTimeout(remaining > 0 ? arm : fn, link);
    // A later link must not hold the process open when the caller said it need not.
    if (unref) timer.unref();
  };
  arm();
  return {
    clear: () => clearTimeout(timer),
    unref: () => {
      unref = true;
      timer.unref();
    },
  };
}
