import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.ts';
import {
  MAX_CATCH_UP, MISFIRE_GRACE_MS, nextFireAfter, parseSchedule, planOccurrences, startSchedule, type MisfirePolicy, type Schedule,
} from '../../src/schedule/schedule.ts';

const at = (iso: string): number => Date.parse(iso);

/** Runs `fn` with the process in `zone` (Node follows a change of `TZ` at once), then puts the zone back. */
function inProcessZone(zone: string, fn: () => void): void {
  const before = process.env.TZ;
  process.env.TZ = zone;
  try {
    expect(Intl.DateTimeFormat().resolvedOptions().timeZone, 'the process zone really changed').toBe(zone);
    fn();
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}
const isoOf = (ms: number): string => new Date(ms).toISOString();

describe('parseSchedule', () => {
  it('takes seconds and cron expressions', () => {
    expect(parseSchedule(60)).toEqual({ kind: 'every', everyMs: 60_000 });
    expect(parseSchedule(0.25)).toEqual({ kind: 'every', everyMs: 250 });
    expect(parseSchedule('*/5 * * * *', 'Europe/Berlin')).toEqual({ kind: 'cron', cron: '*/5 * * * *', tz: 'Europe/Berlin' });
  });

  it('gives a cron schedule without a zone UTC, whatever the zone of the process, so every process agrees', () => {
    for (const zone of ['Pacific/Auckland', 'America/New_York', 'UTC']) {
      inProcessZone(zone, () => {
        expect(parseSchedule('0 7 * * *'), zone).toEqual({ kind: 'cron', cron: '0 7 * * *', tz: 'UTC' });
      });
    }
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

  it('runs the current occurrence when back within its grace, and applies the policy to those before it', () => {
    const back = start + 10 * 60_000 + 1000;
    expect(planOccurrences(every, start + 60_000, back, 'skip').fireTimes).toEqual([start + 10 * 60_000]);
    expect(planOccurrences(every, start + 60_000, back, 'once').fireTimes).toEqual([start + 9 * 60_000, start + 10 * 60_000]);
    expect(planOccurrences(every, start + 60_000, back, 'all').fireTimes).toHaveLength(10);
  });

  it('refuses a policy it does not know (a row from a newer version), on time or late, naming it', () => {
    const later = 'later' as MisfirePolicy;
    for (const now of [start + 60_000, start + 10 * 60_000]) {
      expect(() => planOccurrences(every, start + 60_000, now, later)).toThrow(InvalidArgumentError);
      expect(() => planOccurrences(every, start + 60_000, now, later)).toThrow('Expected `misfire` to be one of once, skip, all, got `later` (string)');
    }
  });

  it('treats lateness within the grace as on time', () => {
    expect(planOccurrences(every, start + 60_000, start + 60_000 + MISFIRE_GRACE_MS, 'skip').fireTimes).toEqual([start + 60_000]);
    expect(planOccurrences(every, start + 60_000, start + 60_001 + MISFIRE_GRACE_MS, 'skip').fireTimes).toEqual([]);
  });
});

describe('planOccurrences: the grace applies to each fire time on its own', () => {
  // Plain numbers: a 1 s interval from 0, stored next run 10 s.
  const everySecond: Schedule = { kind: 'every', everyMs: 1000, anchor: 0 };
  const policies = ['once', 'skip', 'all'] as const;
  const range = (from: number, to: number, step: number): number[] => Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);

  it('runs every fire time within the grace under every policy, oldest first (a 2.5 s stall loses nothing)', () => {
    for (const policy of policies) {
      expect(planOccurrences(everySecond, 10_000, 12_500, policy), policy).toEqual({ fireTimes: [10_000, 11_000, 12_000], nextRunAt: 13_000 });
    }
  });

  it('counts a fire time exactly MISFIRE_GRACE_MS old as on time, one millisecond older as late', () => {
    expect(planOccurrences(everySecond, 10_000, 10_000 + MISFIRE_GRACE_MS, 'skip').fireTimes).toEqual(range(10_000, 15_000, 1000));
    expect(planOccurrences(everySecond, 10_000, 10_001 + MISFIRE_GRACE_MS, 'skip').fireTimes).toEqual(range(11_000, 15_000, 1000));
  });

  it('applies the policy only to fire times older than the grace', () => {
    // Now 17.5 s: 13 s … 17 s are within the grace; 10 s, 11 s and 12 s are late.
    expect(planOccurrences(everySecond, 10_000, 17_500, 'skip').fireTimes).toEqual(range(13_000, 17_000, 1000));
    expect(planOccurrences(everySecond, 10_000, 17_500, 'once').fireTimes).toEqual(range(12_000, 17_000, 1000));
    expect(planOccurrences(everySecond, 10_000, 17_500, 'all').fireTimes).toEqual(range(10_000, 17_000, 1000));
    for (const policy of policies) expect(planOccurrences(everySecond, 10_000, 17_500, policy).nextRunAt).toBe(18_000);
  });

  it('enqueues at most MAX_CATCH_UP in all, the newest, so what is due now is never left out', () => {
    // A 100 ms interval stored at 0, now 60 s: 601 fire times, the 51 from 55 s on within the grace.
    const tenth: Schedule = { kind: 'every', everyMs: 100, anchor: 0 };
    expect(planOccurrences(tenth, 0, 60_000, 'skip').fireTimes).toEqual(range(55_000, 60_000, 100));
    expect(planOccurrences(tenth, 0, 60_000, 'once').fireTimes).toEqual(range(54_900, 60_000, 100));
    expect(planOccurrences(tenth, 0, 60_000, 'all').fireTimes).toEqual(range(60_000 - (MAX_CATCH_UP - 1) * 100, 60_000, 100));
    // A 10 ms interval has 501 fire times within the grace: the newest MAX_CATCH_UP of them, under every policy.
    const hundredth: Schedule = { kind: 'every', everyMs: 10, anchor: 0 };
    for (const policy of policies) {
      expect(planOccurrences(hundredth, 0, 60_000, policy).fireTimes, policy).toEqual(range(60_000 - (MAX_CATCH_UP - 1) * 10, 60_000, 10));
    }
  });

  it('plans a cron schedule the same way', () => {
    const everyMinute: Schedule = { kind: 'cron', cron: '* * * * *', tz: 'UTC' };
    const t = at('2026-01-01T00:00:00Z');
    // Back 2 s after the second of two due fire times: the first is missed, the second on time.
    expect(planOccurrences(everyMinute, t, t + 60_000 + 2000, 'skip')).toEqual({ fireTimes: [t + 60_000], nextRunAt: t + 120_000 });
    expect(planOccurrences(everyMinute, t, t + 60_000 + 2000, 'once').fireTimes).toEqual([t, t + 60_000]);
    // croner's six-field form has a seconds field: the 2.5 s stall of an interval, in cron.
    const everySecondCron: Schedule = { kind: 'cron', cron: '* * * * * *', tz: 'UTC' };
    expect(planOccurrences(everySecondCron, t, t + 2500, 'skip').fireTimes).toEqual([t, t + 1000, t + 2000]);
  });
});
