/**
 * Our daylight-saving and clock-trouble policy, as a table of facts. The time
 * functions are pure, so "now" is a plain number: no timers, no sleeps.
 *
 * Cron schedules follow croner's DST rules (Vixie cron's, see croner's README),
 * with `fixedTimeRule: 'no-wildcard'`:
 * - a fixed-time job (no wildcard or step in minute and hour: one value, a list
 *   or a range, e.g. `30 2 * * *`, `30 2,14 * * *`, `30 1-2 * * *`) whose wall
 *   time does not exist (spring forward) runs once, at the first valid time
 *   after the gap, the same day; whose wall time happens twice (fall back)
 *   runs once, at the first occurrence;
 * - an interval job (a wildcard or step in minute or hour, e.g. `0 * * * *`,
 *   `*\/30 * * * *`, `0 0-23/2 * * *`) skips wall times that do not exist and
 *   runs at both occurrences of a repeated wall time (they are different
 *   instants).
 * Interval schedules (`every`) are UTC instants and ignore DST altogether.
 *
 * Misfires: each fire time reached within MISFIRE_GRACE_MS is on time and runs
 * under every policy, however much was missed before it. Older fire times are
 * missed: `once` adds one catch-up, the latest missed fire time; `skip` runs
 * nothing missed; `all` runs every missed fire time. Oldest first; past
 * MAX_CATCH_UP in all, the newest ones, so the fire time that is due now is
 * never left out. A cron expression that
 * never fires is refused by parseSchedule; one that gets past it is parked at
 * NEVER.
 *
 * Walks are shown as local wall time with the zone's offset at that instant,
 * e.g. `2026-03-08T03:00-04:00`, which names the instant unambiguously.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.ts';
import {
  MAX_CATCH_UP, MISFIRE_GRACE_MS, MISFIRE_POLICIES, NEVER, nextFireAfter, parseSchedule, planOccurrences, startSchedule,
  type MisfirePolicy, type Schedule,
} from '../../src/schedule/schedule.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** An instant from an ISO string with an offset; fails loudly on a typo. */
function at(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`not a date: ${iso}`);
  return ms;
}

const cron = (expr: string, tz: string): Schedule => ({ kind: 'cron', cron: expr, tz });

/** Rows for `each('%s', (title, row) => …)`: test names in full, unquoted and untruncated. */
function named<T>(rows: readonly T[], title: (row: T) => string): Array<[string, T]> {
  return rows.map((row) => [title(row), row]);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** `ms` as local wall time in `tz` with the offset in force then, e.g. `2026-10-04T02:30+11:00`. */
function wall(ms: number, tz: string): string {
  let format = formatters.get(tz);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', timeZoneName: 'longOffset',
    });
    formatters.set(tz, format);
  }
  const parts = format.formatToParts(new Date(ms));
  const part = (type: Intl.DateTimeFormatPartTypes): string => {
    const found = parts.find((p) => p.type === type);
    if (found === undefined) throw new Error(`no ${type} in ${JSON.stringify(parts)}`);
    return found.value;
  };
  const gmt = part('timeZoneName');
  const offset = gmt === 'GMT' ? '+00:00' : gmt.slice('GMT'.length);
  return `${part('year')}-${part('month')}-${part('day')}T${part('hour')}:${part('minute')}${offset}`;
}

const localDay = (ms: number, tz: string): string => wall(ms, tz).slice(0, 10);

/** The next `steps` fire times after `from`, walking `nextFireAfter`. */
function walk(schedule: Schedule, from: number, steps: number): number[] {
  const out: number[] = [];
  let t = from;
  for (let i = 0; i < steps; i++) {
    t = nextFireAfter(schedule, t);
    out.push(t);
  }
  return out;
}

/** Fire times in (from, until]; fails instead of looping if there are more than `maxSteps`. */
function walkUntil(schedule: Schedule, from: number, until: number, maxSteps = 1_000): number[] {
  const out: number[] = [];
  for (let t = nextFireAfter(schedule, from); t <= until; t = nextFireAfter(schedule, t)) {
    out.push(t);
    if (out.length > maxSteps) throw new Error(`more than ${maxSteps} fire times before ${new Date(until).toISOString()}`);
  }
  return out;
}

/** The walk as local wall times: what a user of the zone sees. */
function walkWall(expr: string, tz: string, fromIso: string, steps: number): string[] {
  return walk(cron(expr, tz), at(fromIso), steps).map((t) => wall(t, tz));
}

/** Every fire time whose local date in `tz` is `day` (YYYY-MM-DD). */
function firesOnLocalDay(expr: string, tz: string, day: string): string[] {
  const midnightUtc = at(`${day}T00:00:00Z`);
  // Local midnight lies within UTC-12..UTC+14 of UTC midnight; walk a margin either side.
  return walkUntil(cron(expr, tz), midnightUtc - 15 * HOUR, midnightUtc + 39 * HOUR, 500)
    .filter((t) => localDay(t, tz) === day)
    .map((t) => wall(t, tz));
}

/** Distinct gaps between consecutive instants, in minutes, ascending. */
function gapsInMinutes(instants: readonly number[]): number[] {
  const gaps = new Set<number>();
  for (let i = 1; i < instants.length; i++) gaps.add(((instants[i] ?? 0) - (instants[i - 1] ?? 0)) / MINUTE);
  return [...gaps].sort((a, b) => a - b);
}

function expectStrictlyIncreasing(instants: readonly number[]): void {
  for (let i = 1; i < instants.length; i++) {
    expect(instants[i], `fire time #${i} after #${i - 1}`).toBeGreaterThan(instants[i - 1] ?? Number.POSITIVE_INFINITY);
  }
}

/**
 * Mirrors RecurringFirer.fireDue for one recurring job: at each reading of the
 * clock, plan, enqueue the fire times, store the next run.
 */
function simulate(schedule: Schedule, firstRunAt: number, nows: readonly number[], policy: MisfirePolicy): { enqueued: number[]; nextRunAt: number } {
  const enqueued: number[] = [];
  let nextRunAt = firstRunAt;
  for (const now of nows) {
    const plan = planOccurrences(schedule, nextRunAt, now, policy);
    enqueued.push(...plan.fireTimes);
    nextRunAt = plan.nextRunAt;
  }
  return { enqueued, nextRunAt };
}

interface Transition {
  readonly tz: string;
  readonly change: 'spring forward' | 'fall back';
  /** The local date of the change. */
  readonly day: string;
  /** The instant of the change. */
  readonly at: string;
  /** The wall clock one minute before, and at, the change. */
  readonly lastBefore: string;
  readonly firstAfter: string;
}

const TRANSITIONS: readonly Transition[] = [
  { tz: 'America/New_York', change: 'spring forward', day: '2026-03-08', at: '2026-03-08T07:00:00Z', lastBefore: '2026-03-08T01:59-05:00', firstAfter: '2026-03-08T03:00-04:00' },
  { tz: 'America/New_York', change: 'fall back', day: '2026-11-01', at: '2026-11-01T06:00:00Z', lastBefore: '2026-11-01T01:59-04:00', firstAfter: '2026-11-01T01:00-05:00' },
  { tz: 'Europe/Berlin', change: 'spring forward', day: '2026-03-29', at: '2026-03-29T01:00:00Z', lastBefore: '2026-03-29T01:59+01:00', firstAfter: '2026-03-29T03:00+02:00' },
  { tz: 'Europe/Berlin', change: 'fall back', day: '2026-10-25', at: '2026-10-25T01:00:00Z', lastBefore: '2026-10-25T02:59+02:00', firstAfter: '2026-10-25T02:00+01:00' },
  // Lord Howe Island shifts by 30 minutes: 02:00 → 02:30 in October, 02:00 → 01:30 in April.
  { tz: 'Australia/Lord_Howe', change: 'spring forward', day: '2026-10-04', at: '2026-10-03T15:30:00Z', lastBefore: '2026-10-04T01:59+10:30', firstAfter: '2026-10-04T02:30+11:00' },
  { tz: 'Australia/Lord_Howe', change: 'fall back', day: '2026-04-05', at: '2026-04-04T15:00:00Z', lastBefore: '2026-04-05T01:59+11:00', firstAfter: '2026-04-05T01:30+10:30' },
];

describe('the 2026 transitions this file relies on (checks the runtime\'s time zone data)', () => {
  it.each(named(TRANSITIONS, (t) => `${t.tz}: ${t.change} on ${t.day} at ${t.at}, wall clock ${t.lastBefore} → ${t.firstAfter}`))('%s', (_, { tz, at: instant, lastBefore, firstAfter }) => {
    expect(wall(at(instant) - MINUTE, tz)).toBe(lastBefore);
    expect(wall(at(instant), tz)).toBe(firstAfter);
  });
});

describe('cron, spring forward: a daily job at a wall time that does not exist', () => {
  it.each(named([
    { tz: 'America/New_York', expr: '0 2 * * *', from: '2026-03-07T00:00-05:00', runs: ['2026-03-07T02:00-05:00', '2026-03-08T03:00-04:00', '2026-03-09T02:00-04:00'] },
    { tz: 'America/New_York', expr: '45 2 * * *', from: '2026-03-07T00:00-05:00', runs: ['2026-03-07T02:45-05:00', '2026-03-08T03:00-04:00', '2026-03-09T02:45-04:00'] },
    { tz: 'Europe/Berlin', expr: '0 2 * * *', from: '2026-03-28T00:00+01:00', runs: ['2026-03-28T02:00+01:00', '2026-03-29T03:00+02:00', '2026-03-30T02:00+02:00'] },
    { tz: 'Europe/Berlin', expr: '30 2 * * *', from: '2026-03-28T00:00+01:00', runs: ['2026-03-28T02:30+01:00', '2026-03-29T03:00+02:00', '2026-03-30T02:30+02:00'] },
    { tz: 'Australia/Lord_Howe', expr: '0 2 * * *', from: '2026-10-03T00:00+10:30', runs: ['2026-10-03T02:00+10:30', '2026-10-04T02:30+11:00', '2026-10-05T02:00+11:00'] },
    { tz: 'Australia/Lord_Howe', expr: '15 2 * * *', from: '2026-10-03T00:00+10:30', runs: ['2026-10-03T02:15+10:30', '2026-10-04T02:30+11:00', '2026-10-05T02:15+11:00'] },
    { tz: 'Australia/Lord_Howe', expr: '29 2 * * *', from: '2026-10-03T00:00+10:30', runs: ['2026-10-03T02:29+10:30', '2026-10-04T02:30+11:00', '2026-10-05T02:29+11:00'] },
  ], (r) => `${r.tz} "${r.expr}" runs once that day, at the end of the gap (${r.runs[1]}), and at its own wall time the next day (${r.runs[2]})`))('%s', (_, { tz, expr, from, runs }) => {
    expect(walkWall(expr, tz, from, 3)).toEqual(runs);
    expect(firesOnLocalDay(expr, tz, (runs[1] ?? '').slice(0, 10))).toEqual([runs[1]]);
  });

  it.each(named([
    { tz: 'America/New_York', expr: '59 1 * * *', day: '2026-03-08', runs: ['2026-03-08T01:59-05:00'] },
    { tz: 'America/New_York', expr: '0 3 * * *', day: '2026-03-08', runs: ['2026-03-08T03:00-04:00'] },
    { tz: 'Europe/Berlin', expr: '0 3 * * *', day: '2026-03-29', runs: ['2026-03-29T03:00+02:00'] },
    { tz: 'Australia/Lord_Howe', expr: '30 2 * * *', day: '2026-10-04', runs: ['2026-10-04T02:30+11:00'] },
  ], (r) => `${r.tz} "${r.expr}", a wall time next to the gap that does exist, runs once on ${r.day}, at ${r.runs[0]}`))('%s', (_, { tz, expr, day, runs }) => {
    expect(firesOnLocalDay(expr, tz, day)).toEqual(runs);
  });
});

describe('cron, fall back: a daily job at a wall time that happens twice', () => {
  it.each(named([
    { tz: 'America/New_York', expr: '0 1 * * *', shift: HOUR, from: '2026-10-31T00:00-04:00', runs: ['2026-10-31T01:00-04:00', '2026-11-01T01:00-04:00', '2026-11-02T01:00-05:00'] },
    { tz: 'America/New_York', expr: '59 1 * * *', shift: HOUR, from: '2026-10-31T00:00-04:00', runs: ['2026-10-31T01:59-04:00', '2026-11-01T01:59-04:00', '2026-11-02T01:59-05:00'] },
    { tz: 'Europe/Berlin', expr: '0 2 * * *', shift: HOUR, from: '2026-10-24T00:00+02:00', runs: ['2026-10-24T02:00+02:00', '2026-10-25T02:00+02:00', '2026-10-26T02:00+01:00'] },
    { tz: 'Europe/Berlin', expr: '30 2 * * *', shift: HOUR, from: '2026-10-24T00:00+02:00', runs: ['2026-10-24T02:30+02:00', '2026-10-25T02:30+02:00', '2026-10-26T02:30+01:00'] },
    { tz: 'Australia/Lord_Howe', expr: '30 1 * * *', shift: 30 * MINUTE, from: '2026-04-04T00:00+11:00', runs: ['2026-04-04T01:30+11:00', '2026-04-05T01:30+11:00', '2026-04-06T01:30+10:30'] },
    { tz: 'Australia/Lord_Howe', expr: '45 1 * * *', shift: 30 * MINUTE, from: '2026-04-04T00:00+11:00', runs: ['2026-04-04T01:45+11:00', '2026-04-05T01:45+11:00', '2026-04-06T01:45+10:30'] },
  ], (r) => `${r.tz} "${r.expr}" runs once that day, at the first occurrence (${r.runs[1]}), not when the wall time comes round again`))('%s', (_, { tz, expr, shift, from, runs }) => {
    expect(walkWall(expr, tz, from, 3)).toEqual(runs);
    const day = (runs[1] ?? '').slice(0, 10);
    expect(firesOnLocalDay(expr, tz, day)).toEqual([runs[1]]);
    // Asked just before the second occurrence (say the job was added then): it waits for tomorrow.
    const first = at(runs[1] ?? '');
    expect(wall(first + shift, tz)).toBe(`${(runs[1] ?? '').slice(0, 16)}${(runs[2] ?? '').slice(16)}`); // the same wall time again
    expect(wall(nextFireAfter(cron(expr, tz), first + shift - 1), tz)).toBe(runs[2]);
  });

  it('Australia/Lord_Howe "15 1 * * *": only 01:30–01:59 repeats there, so 01:15 happens once and runs once', () => {
    expect(firesOnLocalDay('15 1 * * *', 'Australia/Lord_Howe', '2026-04-05')).toEqual(['2026-04-05T01:15+11:00']);
  });
});

describe('cron, interval jobs walked across each transition', () => {
  interface WalkCase {
    readonly tz: string;
    readonly expr: string;
    readonly behaviour: string;
    readonly from: string;
    readonly runs: readonly string[];
    /** Real time between consecutive runs, in minutes, over a day either side of the change. */
    readonly gaps: readonly number[];
    /** Runs on the local day of the change. */
    readonly runsThatDay: number;
  }
  const cases: readonly WalkCase[] = [
    { tz: 'America/New_York', expr: '0 * * * *', behaviour: 'skips the missing 02:00; 01:00 EST → 03:00 EDT is one real hour', from: '2026-03-07T23:30-05:00', runs: ['2026-03-08T00:00-05:00', '2026-03-08T01:00-05:00', '2026-03-08T03:00-04:00', '2026-03-08T04:00-04:00'], gaps: [60], runsThatDay: 23 },
    { tz: 'America/New_York', expr: '*/30 * * * *', behaviour: 'skips the missing 02:00 and 02:30', from: '2026-03-08T00:15-05:00', runs: ['2026-03-08T00:30-05:00', '2026-03-08T01:00-05:00', '2026-03-08T01:30-05:00', '2026-03-08T03:00-04:00', '2026-03-08T03:30-04:00'], gaps: [30], runsThatDay: 46 },
    { tz: 'America/New_York', expr: '0 * * * *', behaviour: 'runs at both 01:00s (EDT, then EST: different instants an hour apart)', from: '2026-10-31T23:30-04:00', runs: ['2026-11-01T00:00-04:00', '2026-11-01T01:00-04:00', '2026-11-01T01:00-05:00', '2026-11-01T02:00-05:00', '2026-11-01T03:00-05:00'], gaps: [60], runsThatDay: 25 },
    { tz: 'America/New_York', expr: '*/30 * * * *', behaviour: 'runs through the repeated hour twice: 01:00, 01:30 EDT then 01:00, 01:30 EST', from: '2026-11-01T00:15-04:00', runs: ['2026-11-01T00:30-04:00', '2026-11-01T01:00-04:00', '2026-11-01T01:30-04:00', '2026-11-01T01:00-05:00', '2026-11-01T01:30-05:00', '2026-11-01T02:00-05:00'], gaps: [30], runsThatDay: 50 },
    { tz: 'Europe/Berlin', expr: '0 * * * *', behaviour: 'skips the missing 02:00; 01:00 CET → 03:00 CEST is one real hour', from: '2026-03-28T23:30+01:00', runs: ['2026-03-29T00:00+01:00', '2026-03-29T01:00+01:00', '2026-03-29T03:00+02:00', '2026-03-29T04:00+02:00'], gaps: [60], runsThatDay: 23 },
    { tz: 'Europe/Berlin', expr: '*/30 * * * *', behaviour: 'skips the missing 02:00 and 02:30', from: '2026-03-29T00:15+01:00', runs: ['2026-03-29T00:30+01:00', '2026-03-29T01:00+01:00', '2026-03-29T01:30+01:00', '2026-03-29T03:00+02:00', '2026-03-29T03:30+02:00'], gaps: [30], runsThatDay: 46 },
    { tz: 'Europe/Berlin', expr: '0 * * * *', behaviour: 'runs at both 02:00s (CEST, then CET)', from: '2026-10-25T00:30+02:00', runs: ['2026-10-25T01:00+02:00', '2026-10-25T02:00+02:00', '2026-10-25T02:00+01:00', '2026-10-25T03:00+01:00', '2026-10-25T04:00+01:00'], gaps: [60], runsThatDay: 25 },
    { tz: 'Europe/Berlin', expr: '*/30 * * * *', behaviour: 'runs through the repeated hour twice', from: '2026-10-25T01:15+02:00', runs: ['2026-10-25T01:30+02:00', '2026-10-25T02:00+02:00', '2026-10-25T02:30+02:00', '2026-10-25T02:00+01:00', '2026-10-25T02:30+01:00', '2026-10-25T03:00+01:00'], gaps: [30], runsThatDay: 50 },
    { tz: 'Australia/Lord_Howe', expr: '0 * * * *', behaviour: 'skips 02:00 (inside the 30-minute gap), so 01:00 → 03:00 is 90 real minutes', from: '2026-10-03T23:30+10:30', runs: ['2026-10-04T00:00+10:30', '2026-10-04T01:00+10:30', '2026-10-04T03:00+11:00', '2026-10-04T04:00+11:00'], gaps: [60, 90], runsThatDay: 23 },
    { tz: 'Australia/Lord_Howe', expr: '*/30 * * * *', behaviour: 'skips 02:00 and runs at 02:30, the end of the gap, 30 real minutes after 01:30', from: '2026-10-04T00:15+10:30', runs: ['2026-10-04T00:30+10:30', '2026-10-04T01:00+10:30', '2026-10-04T01:30+10:30', '2026-10-04T02:30+11:00', '2026-10-04T03:00+11:00'], gaps: [30], runsThatDay: 47 },
    { tz: 'Australia/Lord_Howe', expr: '0 * * * *', behaviour: 'runs once an hour with no repeat (only 01:30–01:59 repeats), so 01:00 → 02:00 is 90 real minutes', from: '2026-04-04T23:30+11:00', runs: ['2026-04-05T00:00+11:00', '2026-04-05T01:00+11:00', '2026-04-05T02:00+10:30', '2026-04-05T03:00+10:30'], gaps: [60, 90], runsThatDay: 24 },
    { tz: 'Australia/Lord_Howe', expr: '*/30 * * * *', behaviour: 'runs at both 01:30s (+11:00, then +10:30)', from: '2026-04-05T00:15+11:00', runs: ['2026-04-05T00:30+11:00', '2026-04-05T01:00+11:00', '2026-04-05T01:30+11:00', '2026-04-05T01:30+10:30', '2026-04-05T02:00+10:30', '2026-04-05T02:30+10:30'], gaps: [30], runsThatDay: 49 },
  ];

  describe.each(named(cases, (c) => `${c.tz} "${c.expr}" ${c.behaviour}`))('%s', (_, { tz, expr, from, runs, gaps, runsThatDay }) => {
    const schedule = cron(expr, tz);
    const fromMs = at(from);
    const day = (runs[0] ?? '').slice(0, 10);
    // A day either side of the change, bounded: a loop would fail, not hang.
    const around = walkUntil(schedule, fromMs - DAY, fromMs + 2 * DAY, 500);

    it('fires at these wall times', () => {
      expect(walkWall(expr, tz, from, runs.length)).toEqual(runs);
    });

    it(`fires ${runsThatDay} times on the day of the change`, () => {
      expect(firesOnLocalDay(expr, tz, day)).toHaveLength(runsThatDay);
    });

    it(`gives strictly increasing whole-minute instants, none twice, ${gaps.join(' or ')} minutes apart`, () => {
      expect(around.length).toBeGreaterThan(70);
      expectStrictlyIncreasing(around);
      expect(new Set(around).size).toBe(around.length);
      expect(around.every((t) => t % MINUTE === 0)).toBe(true);
      expect(gapsInMinutes(around)).toEqual(gaps);
    });

    it('gives the same next fire time from any instant as the walk does', () => {
      // Every 7 min 13 s for six hours around the change: the answer is the first walked fire time after it.
      for (let t = fromMs - 2 * HOUR; t < fromMs + 4 * HOUR; t += 7 * MINUTE + 13_000) {
        const expected = around.find((fire) => fire > t);
        expect(nextFireAfter(schedule, t), `after ${wall(t, tz)}`).toBe(expected);
        expect(nextFireAfter(schedule, (expected ?? 0) - 1), `just before ${wall(expected ?? 0, tz)}`).toBe(expected);
      }
    });
  });
});

describe('cron, a list or range of fixed times is a fixed-time job too (fixedTimeRule: \'no-wildcard\'); a step keeps a job an interval job', () => {
  it.each(named([
    { tz: 'America/New_York', expr: '30 2,14 * * *', day: '2026-03-08', behaviour: 'runs its missing 02:30 at 03:00, the end of the gap, like "30 2 * * *"', runs: ['2026-03-08T03:00-04:00', '2026-03-08T14:30-04:00'] },
    { tz: 'America/New_York', expr: '30 1,13 * * *', day: '2026-11-01', behaviour: 'runs the repeated 01:30 once, at the first occurrence, like "30 1 * * *"', runs: ['2026-11-01T01:30-04:00', '2026-11-01T13:30-05:00'] },
    { tz: 'America/New_York', expr: '30 1-2 * * *', day: '2026-03-08', behaviour: '(a range) runs 01:30, and its missing 02:30 at 03:00', runs: ['2026-03-08T01:30-05:00', '2026-03-08T03:00-04:00'] },
    { tz: 'America/New_York', expr: '30 1-2 * * *', day: '2026-11-01', behaviour: '(a range) runs the repeated 01:30 once, at the first occurrence', runs: ['2026-11-01T01:30-04:00', '2026-11-01T02:30-05:00'] },
    { tz: 'America/New_York', expr: '0 2,3 * * *', day: '2026-03-08', behaviour: 'moves its missing 02:00 to 03:00, which is also its own 03:00: one run, not two', runs: ['2026-03-08T03:00-04:00'] },
    { tz: 'Australia/Lord_Howe', expr: '0,15 2 * * *', day: '2026-10-04', behaviour: 'has 02:00 and 02:15 both in the gap: they meet at its end and run once, at 02:30', runs: ['2026-10-04T02:30+11:00'] },
    { tz: 'America/New_York', expr: '0 0-4/2 * * *', day: '2026-03-08', behaviour: '(a step: an interval job) skips its missing 02:00 instead of moving it to 03:00', runs: ['2026-03-08T00:00-05:00', '2026-03-08T04:00-04:00'] },
    { tz: 'America/New_York', expr: '0 1-5/2 * * *', day: '2026-11-01', behaviour: '(a step: an interval job) runs at both 01:00s', runs: ['2026-11-01T01:00-04:00', '2026-11-01T01:00-05:00', '2026-11-01T03:00-05:00', '2026-11-01T05:00-05:00'] },
  ], (r) => `${r.tz} "${r.expr}" on ${r.day} ${r.behaviour}: ${r.runs.join(', ')}`))('%s', (_, { tz, expr, day, runs }) => {
    expect(firesOnLocalDay(expr, tz, day)).toEqual(runs);
  });
});

describe('interval schedules ignore DST: the n-th run is at anchor + n × every', () => {
  const rows = TRANSITIONS.flatMap((transition) => [MINUTE, 30 * MINUTE, HOUR, 90 * MINUTE, DAY].map((everyMs) => ({ ...transition, everyMs, minutes: everyMs / MINUTE })));

  it.each(named(rows, (r) => `${r.tz}, ${r.change} (${r.day}), every ${r.minutes} min`))('%s', (_, { at: instant, everyMs }) => {
    // An odd anchor two days before the change, walked to two days after it.
    const anchor = at(instant) - 2 * DAY + 17 * MINUTE + 7_000;
    const { schedule, firstRunAt } = startSchedule({ kind: 'every', everyMs }, anchor);
    expect(firstRunAt).toBe(anchor);
    const steps = Math.ceil((4 * DAY) / everyMs);
    const runs = walk(schedule, anchor, steps);
    expect(runs).toEqual(Array.from({ length: steps }, (_, i) => anchor + (i + 1) * everyMs));
    // From anywhere between two runs, the next is the later one.
    const n = Math.floor(steps / 2);
    expect(nextFireAfter(schedule, anchor + n * everyMs)).toBe(anchor + (n + 1) * everyMs);
    expect(nextFireAfter(schedule, anchor + (n + 1) * everyMs - 1)).toBe(anchor + (n + 1) * everyMs);
  });

  it.each(named([
    { tz: 'America/New_York', start: '2026-03-07T09:00-05:00', runs: ['2026-03-08T10:00-04:00', '2026-03-09T10:00-04:00'] },
    { tz: 'Europe/Berlin', start: '2026-10-24T09:00+02:00', runs: ['2026-10-25T08:00+01:00', '2026-10-26T08:00+01:00'] },
    { tz: 'Australia/Lord_Howe', start: '2026-10-03T09:00+10:30', runs: ['2026-10-04T09:30+11:00', '2026-10-05T09:30+11:00'] },
  ], (r) => `a 24-hour interval started at ${r.start} in ${r.tz} runs at ${r.runs[0]} after the change: 24 real hours, not the same wall time`))('%s', (_, { tz, start, runs }) => {
    const { schedule } = startSchedule({ kind: 'every', everyMs: DAY }, at(start));
    expect(walk(schedule, at(start), 2).map((t) => wall(t, tz))).toEqual(runs);
  });
});

describe('misfire policies over real downtime, across a DST change', () => {
  interface Downtime {
    readonly name: string;
    readonly tz: string;
    readonly expr: string;
    /** The stored next run when the worker went down: the first missed fire time. */
    readonly stored: string;
    /** When a worker comes back. */
    readonly now: string;
    /** The last fire time at or before `now`: what `once` runs, unless it is on time (see `once`). */
    readonly latest: string;
    /** What `once` runs when `latest` is on time: the latest missed fire time as its catch-up, then `latest`. */
    readonly once?: readonly string[];
    /** What `skip` runs: nothing, or `latest` if it is within the grace of `now`. */
    readonly skip: readonly string[];
    /** The first fire time after `now`. */
    readonly next: string;
    /** What `all` enqueues: its size, its last, some it must hold and some it must not. */
    readonly all: { readonly count: number; readonly last: string; readonly includes: readonly string[]; readonly excludes: readonly string[] };
  }
  const downtimes: readonly Downtime[] = [
    {
      name: 'America/New_York daily 02:30, down 3 days over spring forward', tz: 'America/New_York', expr: '30 2 * * *',
      stored: '2026-03-07T02:30-05:00', now: '2026-03-10T07:00-04:00', latest: '2026-03-10T02:30-04:00', skip: [], next: '2026-03-11T02:30-04:00',
      all: { count: 4, last: '2026-03-10T02:30-04:00', includes: ['2026-03-07T02:30-05:00', '2026-03-08T03:00-04:00', '2026-03-09T02:30-04:00', '2026-03-10T02:30-04:00'], excludes: [] },
    },
    {
      name: 'Europe/Berlin daily 02:30, down 3 days over fall back', tz: 'Europe/Berlin', expr: '30 2 * * *',
      stored: '2026-10-24T02:30+02:00', now: '2026-10-27T09:00+01:00', latest: '2026-10-27T02:30+01:00', skip: [], next: '2026-10-28T02:30+01:00',
      all: { count: 4, last: '2026-10-27T02:30+01:00', includes: ['2026-10-24T02:30+02:00', '2026-10-25T02:30+02:00', '2026-10-26T02:30+01:00', '2026-10-27T02:30+01:00'], excludes: ['2026-10-25T02:30+01:00'] },
    },
    {
      name: 'Australia/Lord_Howe daily 02:15, down 3 days over spring forward', tz: 'Australia/Lord_Howe', expr: '15 2 * * *',
      stored: '2026-10-02T02:15+10:30', now: '2026-10-05T12:00+11:00', latest: '2026-10-05T02:15+11:00', skip: [], next: '2026-10-06T02:15+11:00',
      all: { count: 4, last: '2026-10-05T02:15+11:00', includes: ['2026-10-02T02:15+10:30', '2026-10-03T02:15+10:30', '2026-10-04T02:30+11:00', '2026-10-05T02:15+11:00'], excludes: [] },
    },
    {
      name: 'Australia/Lord_Howe daily 01:45, down 3 days over fall back', tz: 'Australia/Lord_Howe', expr: '45 1 * * *',
      stored: '2026-04-03T01:45+11:00', now: '2026-04-06T12:00+10:30', latest: '2026-04-06T01:45+10:30', skip: [], next: '2026-04-07T01:45+10:30',
      all: { count: 4, last: '2026-04-06T01:45+10:30', includes: ['2026-04-03T01:45+11:00', '2026-04-04T01:45+11:00', '2026-04-05T01:45+11:00', '2026-04-06T01:45+10:30'], excludes: ['2026-04-05T01:45+10:30'] },
    },
    {
      // 24 + 25 + 24 hourly runs on Oct 31, Nov 1, Nov 2.
      name: 'America/New_York hourly, down 3 days over fall back', tz: 'America/New_York', expr: '0 * * * *',
      stored: '2026-10-31T00:00-04:00', now: '2026-11-02T23:30-05:00', latest: '2026-11-02T23:00-05:00', skip: [], next: '2026-11-03T00:00-05:00',
      all: { count: 73, last: '2026-11-02T23:00-05:00', includes: ['2026-11-01T01:00-04:00', '2026-11-01T01:00-05:00'], excludes: [] },
    },
    {
      // 48 + 47 + 1 half-hourly runs on Oct 3, Oct 4 (no 02:00), Oct 5.
      name: 'Australia/Lord_Howe half-hourly, down 2 days over spring forward', tz: 'Australia/Lord_Howe', expr: '*/30 * * * *',
      stored: '2026-10-03T00:00+10:30', now: '2026-10-05T00:10+11:00', latest: '2026-10-05T00:00+11:00', skip: [], next: '2026-10-05T00:30+11:00',
      all: { count: 96, last: '2026-10-05T00:00+11:00', includes: ['2026-10-04T01:30+10:30', '2026-10-04T02:30+11:00'], excludes: ['2026-10-04T02:00+10:30', '2026-10-04T02:00+11:00'] },
    },
    {
      // 24 + 24 + 25 + 24 + 24 + 1 = 122 hourly runs: `all` keeps the 100 newest, among them 00:00 on
      // Oct 28, which is on time (it is now), and drops the 22 oldest (Oct 23, 00:00 to 21:00).
      name: 'Europe/Berlin hourly, down 5 days over fall back, back exactly at a fire time (more than MAX_CATCH_UP missed)', tz: 'Europe/Berlin', expr: '0 * * * *',
      stored: '2026-10-23T00:00+02:00', now: '2026-10-28T00:00+01:00', latest: '2026-10-28T00:00+01:00', skip: ['2026-10-28T00:00+01:00'], next: '2026-10-28T01:00+01:00',
      once: ['2026-10-27T23:00+01:00', '2026-10-28T00:00+01:00'],
      all: { count: MAX_CATCH_UP, last: '2026-10-28T00:00+01:00', includes: ['2026-10-23T22:00+02:00', '2026-10-25T02:00+02:00', '2026-10-25T02:00+01:00'], excludes: ['2026-10-23T00:00+02:00', '2026-10-23T21:00+02:00'] },
    },
    {
      name: 'America/New_York daily 02:30, back on the morning of spring forward (the latest fire time is the moved 03:00 run)', tz: 'America/New_York', expr: '30 2 * * *',
      stored: '2026-03-06T02:30-05:00', now: '2026-03-08T09:00-04:00', latest: '2026-03-08T03:00-04:00', skip: [], next: '2026-03-09T02:30-04:00',
      all: { count: 3, last: '2026-03-08T03:00-04:00', includes: ['2026-03-06T02:30-05:00', '2026-03-07T02:30-05:00', '2026-03-08T03:00-04:00'], excludes: [] },
    },
    {
      // The wall clock read 02:30 again a quarter of an hour ago, but a fixed-time job ran at the first 02:30 only.
      name: 'Europe/Berlin daily 02:30, back just after the repeated 02:30 on fall back (the latest fire time is the first 02:30)', tz: 'Europe/Berlin', expr: '30 2 * * *',
      stored: '2026-10-23T02:30+02:00', now: '2026-10-25T02:45+01:00', latest: '2026-10-25T02:30+02:00', skip: [], next: '2026-10-26T02:30+01:00',
      all: { count: 3, last: '2026-10-25T02:30+02:00', includes: ['2026-10-23T02:30+02:00', '2026-10-24T02:30+02:00', '2026-10-25T02:30+02:00'], excludes: ['2026-10-25T02:30+01:00'] },
    },
  ];

  describe.each(named(downtimes, (d) => `${d.name} (down from ${d.stored} until ${d.now})`))('%s', (_, { tz, expr, stored, now, latest, once, skip, next, all }) => {
    const schedule = cron(expr, tz);
    const plan = (policy: MisfirePolicy) => planOccurrences(schedule, at(stored), at(now), policy);
    const walls = (instants: readonly number[]) => instants.map((t) => wall(t, tz));

    it(`is a real outage: the stored next run is a fire time, well past the grace; ${latest} is the last fire time at or before now`, () => {
      expect(nextFireAfter(schedule, at(stored) - 1)).toBe(at(stored));
      expect(at(now) - at(stored)).toBeGreaterThan(MISFIRE_GRACE_MS);
      expect(nextFireAfter(schedule, at(now))).toBe(at(next));
      expect(nextFireAfter(schedule, at(latest) - 1)).toBe(at(latest));
      expect(at(latest)).toBeLessThanOrEqual(at(now));
      expect(nextFireAfter(schedule, at(latest))).toBe(at(next));
      // The row's `skip` says whether `latest` is on time; check the row against the grace.
      expect(at(now) - at(latest) <= MISFIRE_GRACE_MS).toBe(skip.length > 0);
    });

    it(once === undefined
      ? `once: enqueues exactly one catch-up, the latest missed fire time (${latest}), not the first missed one (${stored}); next runs at ${next}`
      : `once: enqueues one catch-up, the latest missed fire time, then the on-time ${latest}: ${once.join(', ')}; next runs at ${next}`, () => {
      const { fireTimes, nextRunAt } = plan('once');
      expect(latest).not.toBe(stored);
      expect(walls(fireTimes)).toEqual(once ?? [latest]);
      expect(wall(nextRunAt, tz)).toBe(next);
    });

    it(skip.length === 0
      ? `skip: enqueues nothing (${latest} is past the grace), and next runs at ${next}`
      : `skip: enqueues only ${skip.join(', ')}, within the grace of now and so on time, and next runs at ${next}`, () => {
      const { fireTimes, nextRunAt } = plan('skip');
      expect(walls(fireTimes)).toEqual(skip);
      expect(wall(nextRunAt, tz)).toBe(next);
    });

    it(`all: enqueues ${all.count} missed occurrences (the newest, past the cap), oldest first, distinct, each a fire time, none after now; next runs at ${next}`, () => {
      const { fireTimes, nextRunAt } = plan('all');
      expect(fireTimes).toHaveLength(all.count);
      expect(fireTimes.length).toBeLessThanOrEqual(MAX_CATCH_UP);
      expect(wall(fireTimes.at(-1) ?? 0, tz)).toBe(all.last);
      expectStrictlyIncreasing(fireTimes);
      expect(new Set(fireTimes).size).toBe(fireTimes.length);
      // Exactly the schedule's own fire times up to now, the newest of them, with none left out between.
      const missed = walkUntil(schedule, at(stored) - 1, at(now));
      expect(wall(missed[0] ?? 0, tz)).toBe(stored);
      expect(fireTimes).toEqual(missed.slice(-MAX_CATCH_UP));
      expect(fireTimes.every((t) => t <= at(now))).toBe(true);
      expect(walls(fireTimes)).toEqual(expect.arrayContaining([...all.includes]));
      for (const absent of all.excludes) expect(walls(fireTimes)).not.toContain(absent);
      expect(wall(nextRunAt, tz)).toBe(next);
    });
  });

  describe('a worker back within the grace of a fire time after a long downtime runs that fire time: it is on time, not missed', () => {
    const cases = [
      {
        name: 'America/New_York daily 02:30, the moved 03:00 run on spring forward', tz: 'America/New_York', expr: '30 2 * * *',
        stored: '2026-03-07T02:30-05:00', fire: '2026-03-08T03:00-04:00', next: '2026-03-09T02:30-04:00',
        all: ['2026-03-07T02:30-05:00', '2026-03-08T03:00-04:00'],
      },
      {
        name: 'Europe/Berlin daily 02:30, the first 02:30 on fall back', tz: 'Europe/Berlin', expr: '30 2 * * *',
        stored: '2026-10-22T02:30+02:00', fire: '2026-10-25T02:30+02:00', next: '2026-10-26T02:30+01:00',
        all: ['2026-10-22T02:30+02:00', '2026-10-23T02:30+02:00', '2026-10-24T02:30+02:00', '2026-10-25T02:30+02:00'],
      },
      {
        name: 'Australia/Lord_Howe daily 02:15, moved to 02:30 on spring forward', tz: 'Australia/Lord_Howe', expr: '15 2 * * *',
        stored: '2026-10-02T02:15+10:30', fire: '2026-10-04T02:30+11:00', next: '2026-10-05T02:15+11:00',
        all: ['2026-10-02T02:15+10:30', '2026-10-03T02:15+10:30', '2026-10-04T02:30+11:00'],
      },
    ];
    const rows = cases.flatMap((c) => [0, 1_500, MISFIRE_GRACE_MS, MISFIRE_GRACE_MS + 1].map((lateBy) => ({ ...c, lateBy, onTime: lateBy <= MISFIRE_GRACE_MS })));

    it.each(named(rows, (r) => `${r.name}: down since ${r.stored}, back ${r.lateBy} ms after ${r.fire}${r.onTime ? '' : ' (1 ms past the grace)'}: `
      + (r.onTime ? `skip runs ${r.fire}, once ${r.all.at(-2)} as its catch-up and then ${r.fire}` : `skip runs nothing, once still runs ${r.fire} as its catch-up`)
      + `; all runs the ${r.all.length} missed, oldest first, ${r.fire} the newest; next runs at ${r.next}`))('%s', (_, { tz, expr, stored, fire, next, all, lateBy, onTime }) => {
      const schedule = cron(expr, tz);
      const now = at(fire) + lateBy;
      const walls = (instants: readonly number[]) => instants.map((t) => wall(t, tz));
      // A real outage: fire times before this one were missed, and this one is the last at or before now.
      expect(walk(schedule, at(stored) - 1, all.length)).toEqual(all.map(at));
      expect(at(fire) - at(stored)).toBeGreaterThan(MISFIRE_GRACE_MS);
      expect(nextFireAfter(schedule, now)).toBe(at(next));
      const plan = (policy: MisfirePolicy) => planOccurrences(schedule, at(stored), now, policy);
      expect(walls(plan('skip').fireTimes), 'skip').toEqual(onTime ? [fire] : []);
      expect(walls(plan('once').fireTimes), 'once').toEqual(onTime ? all.slice(-2) : [fire]);
      expect(walls(plan('all').fireTimes), 'all').toEqual(all);
      for (const policy of MISFIRE_POLICIES) expect(wall(plan(policy).nextRunAt, tz), policy).toBe(next);
    });
  });
});

describe('a clock that jumps', () => {
  describe.each(named(TRANSITIONS, (t) => `${t.tz}, ${t.change} (${t.day})`))('%s', (_, { tz, at: instant }) => {
    const change = at(instant);

    it.each(['0 * * * *', '*/30 * * * *'])('"%s": after an on-time run, a clock set back an hour enqueues nothing and keeps the stored next run, under every policy', (expr) => {
      const schedule = cron(expr, tz);
      const fire = nextFireAfter(schedule, change - HOUR);
      const onTime = planOccurrences(schedule, fire, fire + 1_500, 'once');
      expect(onTime.fireTimes).toEqual([fire]);
      const stored = onTime.nextRunAt;
      expect(stored).toBeGreaterThan(fire);
      for (const policy of MISFIRE_POLICIES) {
        expect(planOccurrences(schedule, stored, fire + 1_500 - HOUR, policy), policy).toEqual({ fireTimes: [], nextRunAt: stored });
        expect(planOccurrences(schedule, stored, stored - 1, policy), policy).toEqual({ fireTimes: [], nextRunAt: stored });
      }
    });

    it.each(MISFIRE_POLICIES)('a worker polling each minute through the change, whose clock is set back an hour at the change, runs every fire time exactly once (%s)', (policy) => {
      for (const expr of ['0 * * * *', '*/30 * * * *', '*/15 * * * *']) {
        const schedule = cron(expr, tz);
        const start = change - 3 * HOUR;
        const { firstRunAt } = startSchedule({ kind: 'cron', cron: expr, tz }, start);
        // Readings 1.5 s past each minute; at the change the clock reads an hour earlier and carries on.
        const nows: number[] = [];
        for (let t = start + 1_500; t < change; t += MINUTE) nows.push(t);
        for (let t = change - HOUR + 1_500; t < change + 3 * HOUR; t += MINUTE) nows.push(t);
        const { enqueued, nextRunAt } = simulate(schedule, firstRunAt, nows, policy);
        const expected = walkUntil(schedule, start, Math.max(...nows));
        expect(enqueued.map((t) => wall(t, tz)), expr).toEqual(expected.map((t) => wall(t, tz)));
        expect(new Set(enqueued).size, expr).toBe(enqueued.length);
        expect(nextRunAt, expr).toBe(nextFireAfter(schedule, Math.max(...nows)));
      }
    });

    it('a clock that jumps a year forward: once enqueues exactly one, the latest fire time before the new now (not the stored run), skip none (that is past the grace), all the MAX_CATCH_UP newest; all resume after the new now', () => {
      const schedule = cron('0 * * * *', tz);
      const stored = nextFireAfter(schedule, change - 2 * HOUR);
      const later = change + 365 * DAY + 7 * MINUTE;
      const resume = nextFireAfter(schedule, later);
      expect(resume).toBeGreaterThan(later);
      expect(resume - later).toBeLessThanOrEqual(HOUR);
      // The fire time just before the new now, by walking the schedule.
      const latest = walkUntil(schedule, later - 2 * HOUR, later).at(-1) ?? Number.NaN;
      expect(nextFireAfter(schedule, latest)).toBe(resume);
      expect(later - latest).toBeGreaterThan(MISFIRE_GRACE_MS);
      expect(latest - stored).toBeGreaterThan(364 * DAY);
      expect(planOccurrences(schedule, stored, later, 'once')).toEqual({ fireTimes: [latest], nextRunAt: resume });
      expect(planOccurrences(schedule, stored, later, 'skip')).toEqual({ fireTimes: [], nextRunAt: resume });
      const all = planOccurrences(schedule, stored, later, 'all');
      expect(all.fireTimes).toEqual(walkUntil(schedule, later - 200 * HOUR, later).slice(-MAX_CATCH_UP));
      expect(all.nextRunAt).toBe(resume);
    });
  });
});

describe('a cron expression that never fires', () => {
  const now = at('2026-01-01T00:00:00Z');
  const neverFires = named([
    { expr: '0 0 30 2 *', tz: 'UTC', what: 'Feb 30' },
    { expr: '0 0 30 2 *', tz: 'America/New_York', what: 'Feb 30' },
    { expr: '0 0 31 4 *', tz: 'Europe/Berlin', what: 'Apr 31' },
    { expr: '0 0 31 11 *', tz: 'Australia/Lord_Howe', what: 'Nov 31' },
  ], (r) => `"${r.expr}" (${r.what}, ${r.tz})`);

  it.each(neverFires)('%s is refused by parseSchedule, naming the expression', (_, { expr, tz }) => {
    expect(() => parseSchedule(expr, tz)).toThrow(InvalidArgumentError);
    expect(() => parseSchedule(expr, tz)).toThrow(`Expected \`every\` to be a cron expression that fires, got \`${expr}\`, which never does`);
  });

  it.each(neverFires)('%s built directly, bypassing parseSchedule, is parked at NEVER (Number.MAX_SAFE_INTEGER) instead of looping', (_, { expr, tz }) => {
    expect(NEVER).toBe(Number.MAX_SAFE_INTEGER);
    const { schedule, firstRunAt } = startSchedule({ kind: 'cron', cron: expr, tz }, now);
    expect(firstRunAt).toBe(NEVER);
    expect(nextFireAfter(schedule, now + 400 * DAY)).toBe(NEVER);
    expect(nextFireAfter(cron(expr, tz), NEVER)).toBe(NEVER);
    for (const policy of MISFIRE_POLICIES) {
      expect(planOccurrences(schedule, firstRunAt, now + 10 * 365 * DAY, policy), policy).toEqual({ fireTimes: [], nextRunAt: NEVER });
    }
  });

  it('a schedule past its last fire time (a year field), built directly, is parked at NEVER the same way, and `all` stops catching up there', () => {
    const schedule = cron('0 0 0 1 1 * 2026', 'UTC');
    expect(nextFireAfter(schedule, now - 1)).toBe(now);
    expect(nextFireAfter(schedule, now)).toBe(NEVER);
    expect(planOccurrences(schedule, now, now + 365 * DAY, 'all')).toEqual({ fireTimes: [now], nextRunAt: NEVER });
  });

  it.each(named([
    { expr: '0 * * * *', tz: 'UTC', after: NEVER, what: 'NEVER' },
    { expr: '0 * * * *', tz: 'America/New_York', after: NEVER, what: 'NEVER' },
    { expr: '*/30 * * * *', tz: 'Australia/Lord_Howe', after: NEVER, what: 'NEVER' },
    { expr: '0 * * * *', tz: 'UTC', after: 8.64e15, what: 'the largest Date, 8.64e15' },
    { expr: '30 2 * * *', tz: 'Europe/Berlin', after: 8.64e15, what: 'the largest Date, 8.64e15' },
  ], (r) => `nextFireAfter of "${r.expr}" (${r.tz}), a schedule that fires, after ${r.what} is NEVER instead of throwing`))('%s', (_, { expr, tz, after }) => {
    const schedule = cron(expr, tz);
    expect(nextFireAfter(schedule, at('2026-01-01T00:00:00Z'))).toBeLessThan(NEVER);
    expect(nextFireAfter(schedule, after)).toBe(NEVER);
  });
});
