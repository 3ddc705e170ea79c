import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.ts';
import { MAX_TIMER_MS, setLongTimeout } from '../../src/schedule/long-timer.ts';

const DAY = 86_400_000;

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('setLongTimeout', () => {
  it('is what setTimeout cannot do: past 2^31 − 1 ms, setTimeout fires at once', () => {
    // Checks that the fake timers behave like Node here, so the tests below mean something.
    const plain = vi.fn();
    setTimeout(plain, MAX_TIMER_MS + 1);
    vi.advanceTimersByTime(1);
    expect(plain).toHaveBeenCalledTimes(1);
  });

  it('fires once, exactly after the delay, however long', () => {
    const fn = vi.fn();
    setLongTimeout(fn, 30 * DAY);
    vi.advanceTimersByTime(30 * DAY - 1);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(100 * DAY);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it.each([0, 10, MAX_TIMER_MS])('takes a delay setTimeout can take (%i ms) as one timer', (ms) => {
    const fn = vi.fn();
    const spy = vi.spyOn(globalThis, 'setTimeout');
    setLongTimeout(fn, ms);
    expect(spy).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(Math.max(0, ms - 1));
    if (ms > 0) expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('holds one timer at a time, chaining links of at most 2^31 − 1 ms', () => {
    const fn = vi.fn();
    const spy = vi.spyOn(globalThis, 'setTimeout');
    setLongTimeout(fn, 2 * MAX_TIMER_MS + 5);
    for (let link = 0; link < 3; link++) {
      expect(vi.getTimerCount()).toBe(1);
      vi.advanceTimersByTime(Math.min(MAX_TIMER_MS, 2 * MAX_TIMER_MS + 5 - link * MAX_TIMER_MS));
    }
    expect(fn).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls.map((call) => call[1])).toEqual([MAX_TIMER_MS, MAX_TIMER_MS, 5]);
  });

  it('clear() stops it, before or after a link has passed', () => {
    const early = vi.fn();
    setLongTimeout(early, 30 * DAY).clear();
    const late = vi.fn();
    const timer = setLongTimeout(late, 30 * DAY);
    vi.advanceTimersByTime(MAX_TIMER_MS + 1000); // into the second link
    timer.clear();
    vi.advanceTimersByTime(60 * DAY);
    expect(early).not.toHaveBeenCalled();
    expect(late).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('unref() unrefs the current link and every later one', () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const timer = setLongTimeout(() => {}, 3 * MAX_TIMER_MS);
    const links = (): NodeJS.Timeout[] => spy.mock.results.map((result) => result.value as NodeJS.Timeout);
    vi.advanceTimersByTime(MAX_TIMER_MS); // the second link is current
    expect(links().map((link) => link.hasRef())).toEqual([true, true]);
    timer.unref();
    expect(links()[1]?.hasRef()).toBe(false);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(links()).toHaveLength(3);
    expect(links()[2]?.hasRef()).toBe(false);
  });

  it.each([
    [-1, '`-1` (number)'],
    [Number.NaN, '`NaN` (number)'],
    [Number.POSITIVE_INFINITY, '`Infinity` (number)'],
    ['5', '`5` (string)'],
  ])('refuses a delay of %s, naming it', (ms, got) => {
    expect(() => setLongTimeout(() => {}, ms as number)).toThrow(InvalidArgumentError);
    expect(() => setLongTimeout(() => {}, ms as number)).toThrow(`Expected \`ms\` to be a finite number >= 0, got ${got}`);
  });
});
