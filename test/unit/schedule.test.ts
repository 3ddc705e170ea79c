import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.ts';
import {
  MAX_CATCH_UP, MISFIRE_GRACE_MS, nextFireAfter, parseSchedule, planOccurrences, startSchedule, type Schedule,
} from '../../src/schedule/schedule.ts';

const at = (iso: string): number => Date.parse(iso);
const isoOf = (ms: number): string => new Date(ms).toISOString();

describe('parseSchedule', () => {
  it('takes seconds and cron expressions', () => {
    expect(parseSchedule(60)).toEqual({ kind: 'every', everyMs: 60_000 });
    expect(parseSchedule(0.25)).toEqual({ kind: 'every', everyMs: 250 });
    expect(parseSchedule('*/5 * * * *', 'Europe/Berlin')).toEqual({ kind: 'cron', cron: '*/5 * * * *', tz: 'Europe/Berlin' });
  });

  it('fixes a cron schedule\'s zone when none is given, so every process agrees', () => {
    const parsed = parseSchedule('0 3 * * *');
    expect(parsed.kind === 'cron' && parsed.tz).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
  });

  it.each([
    [0, 'Expected `every` to be a positive finite number of seconds or a cron expression, got `0` (number)'],
    [-5, 'got `-5` (number)'],
    [Number.POSITIVE_INFINITY, 'got `Infinity` (number)'],
    [Number.NaN, 'got `NaN` (number)'],
    ['', 'got `` (string)'],
    [undefined, 'got `undefined` (undefined)'],
    ['not a cron', 'Expected `every` to be a valid cron expression, got `not a cron`'],
    ['61 * * * *', 'Expected `every` to be a valid cron expression, got `61 * * * *`'],
    ['0 0 30 2 *', 'Expected `every` to be a cron expression that fires, got `0 0 30 2 *`, which never does'],
  ])('refuses every=%s', (every, message) => {
    expect(() => parseSchedule(every)).toThrow(InvalidArgumentError);
    expect(() => parseSchedule(every)).toThrow(message);
  });

  it('refuses unknown time zones, naming the zone', () => {
    expect(() => parseSchedule('0 * * * *', 'Mars/Olympus')).toThrow('Expected `tz` to be an IANA time zone such as "Europe/Berlin", got `Mars/Olympus` (unknown time zone)');
  });

  it('refuses a zone on an interval', () => {
    expect(() => parseSchedule(60, 'UTC')).toThrow('`tz` applies to cron schedules only');
  });
});

describe('interval schedules', () => {
  const start = at('2026-01-01T00:00:00Z');
  const every: Schedule = { kind: 'every', everyMs: 60_000, anchor: start };

  it('first runs at once', () => {
    expect(startSchedule({ kind: 'every', everyMs: 60_000 }, start).firstRunAt).toBe(start);
  });

  it('puts the n-th run at start + n × interval, however late the previous one ran', () => {
    // A run that finished 59.9 s late does not push the next one (no drift).
    expect(nextFireAfter(every, start + 59_900)).toBe(start + 60_000);
    expect(nextFireAfter(every, start + 60_000)).toBe(start + 120_000);
    expect(nextFireAfter(every, start + 10 * 60_000 + 1)).toBe(start + 11 * 60_000);
  });
});

describe('cron schedules', () => {
  it('first runs at the next fire time', () => {
    const { firstRunAt } = startSchedule({ kind: 'cron', cron: '0 * * * *', tz: 'UTC' }, at('2026-01-01T10:15:00Z'));
    expect(isoOf(firstRunAt)).toBe('2026-01-01T11:00:00.000Z');
  });

  it('follows the time zone', () => {
    const daily: Schedule = { kind: 'cron', cron: '0 9 * * *', tz: 'Europe/Berlin' };
    expect(isoOf(nextFireAfter(daily, at('2026-01-10T00:00:00Z')))).toBe('2026-01-10T08:00:00.000Z');
    expect(isoOf(nextFireAfter(daily, at('2026-07-10T00:00:00Z')))).toBe('2026-07-10T07:00:00.000Z');
  });

  it('runs a fire time that does not exist (spring forward) once, when the gap ends', () => {
    const daily: Schedule = { kind: 'cron', cron: '30 2 * * *', tz: 'America/New_York' };
    // 2026-03-08 02:30 does not exist in New York: clocks jump from 02:00 EST to 03:00 EDT (07:00Z).
    const fire = nextFireAfter(daily, at('2026-03-08T05:00:00Z'));
    expect(isoOf(fire)).toBe('2026-03-08T07:00:00.000Z');
    expect(isoOf(nextFireAfter(daily, fire))).toBe('2026-03-09T06:30:00.000Z');
  });

  it('runs a repeated hour (fall back) once', () => {
    const daily: Schedule = { kind: 'cron', cron: '30 1 * * *', tz: 'America/New_York' };
    // 2026-11-01 01:30 happens twice in New York (EDT, then EST).
    const first = nextFireAfter(daily, at('2026-11-01T04:00:00Z'));
    expect(isoOf(first)).toBe('2026-11-01T05:30:00.000Z');
    expect(isoOf(nextFireAfter(daily, first))).toBe('2026-11-02T06:30:00.000Z');
  });
});

describe('planOccurrences (misfire policies)', () => {
  const start = at('2026-01-01T00:00:00Z');
  const every: Schedule = { kind: 'every', everyMs: 60_000, anchor: start };

  it('runs an on-time occurrence under every policy', () => {
    for (const policy of ['once', 'skip', 'all'] as const) {
      expect(planOccurrences(every, start + 60_000, start + 60_003, policy)).toEqual({ fireTimes: [start + 60_000], nextRunAt: start + 120_000 });
    }
  });

  it('does nothing before the next run', () => {
    expect(planOccurrences(every, start + 60_000, start + 59_999, 'once')).toEqual({ fireTimes: [], nextRunAt: start + 60_000 });
  });

  const downUntil = start + 10 * 60_000 + 30_000; // ten missed runs

  it('once: one catch-up, the latest missed run, then back on schedule', () => {
    expect(planOccurrences(every, start + 60_000, downUntil, 'once')).toEqual({ fireTimes: [start + 10 * 60_000], nextRunAt: start + 11 * 60_000 });
  });

  it('skip: nothing late runs', () => {
    expect(planOccurrences(every, start + 60_000, downUntil, 'skip')).toEqual({ fireTimes: [], nextRunAt: start + 11 * 60_000 });
  });

  it('all: each missed run, oldest first, up to the bound', () => {
    const plan = planOccurrences(every, start + 60_000, downUntil, 'all');
    expect(plan.fireTimes).toEqual(Array.from({ length: 10 }, (_, i) => start + (i + 1) * 60_000));
    const long = planOccurrences(every, start + 60_000, start + 1000 * 60_000, 'all');
    expect(long.fireTimes).toHaveLength(MAX_CATCH_UP);
  });

  it('runs the current occurrence when back within its grace, whatever was missed before', () => {
    const back = start + 10 * 60_000 + 1000;
    for (const policy of ['once', 'skip'] as const) {
      expect(planOccurrences(every, start + 60_000, back, policy).fireTimes).toEqual([start + 10 * 60_000]);
    }
    expect(planOccurrences(every, start + 60_000, back, 'all').fireTimes).toHaveLength(10);
  });

  it('treats lateness within the grace as on time', () => {
    expect(planOccurrences(every, start + 60_000, start + 60_000 + MISFIRE_GRACE_MS, 'skip').fireTimes).toEqual([start + 60_000]);
    expect(planOccurrences(every, start + 60_000, start + 60_001 + MISFIRE_GRACE_MS, 'skip').fireTimes).toEqual([]);
  });
});
