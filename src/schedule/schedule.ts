import { Cron } from 'croner';
import { InvalidArgumentError } from '../errors.ts';

/**
 * A recurring job's schedule. Everything here is a pure function of
 * (schedule, instant), so time logic is tested without waiting.
 */
export type Schedule =
  | { readonly kind: 'every'; readonly everyMs: number; readonly anchor: number }
  | { readonly kind: 'cron'; readonly cron: string; readonly tz: string | null };

/**
 * What to do with missed occurrences: fire times more than
 * {@link MISFIRE_GRACE_MS} before the worker reached them. Fire times within
 * the grace are on time and run under every policy.
 * - `once`: add one catch-up occurrence, the latest missed one (default).
 * - `skip`: run nothing that was missed.
 * - `all`: run every missed occurrence.
 * Oldest first, and at most {@link MAX_CATCH_UP} in all, missed and on time together: the newest ones.
 */
export type MisfirePolicy = 'once' | 'skip' | 'all';
export const MISFIRE_POLICIES: readonly MisfirePolicy[] = ['once', 'skip', 'all'];

/** Upper bound on the occurrences enqueued at once for one recurring job, whatever the policy. */
export const MAX_CATCH_UP = 100;

/**
 * A fire time reached within this much (`now - fireTime <= MISFIRE_GRACE_MS`)
 * is on time, not missed: a busy worker is a few milliseconds late all the
 * time, and a short stall must not drop the occurrences of a short interval.
 */
export const MISFIRE_GRACE_MS = 5_000;

/** The schedule as given by a caller, before an anchor is fixed. */
export type ScheduleInput =
  | { readonly kind: 'every'; readonly everyMs: number }
  | { readonly kind: 'cron'; readonly cron: string; readonly tz: string | null };

/**
 * Validates `every` (seconds, or a cron expression) and `tz`.
 * @param names how errors name the two inputs: the API's arguments by
 *   default; the command line passes its flags (`--cron`, `--tz`).
 * @throws InvalidArgumentError naming the argument and what was expected.
 */
export function parseSchedule(every: unknown, tz?: unknown, names: { every: string; tz: string } = { every: '`every`', tz: '`tz`' }): ScheduleInput {
  if (tz !== undefined && tz !== null) assertTimeZone(tz, names.tz);
  if (typeof every === 'number') {
    if (!Number.isFinite(every) || every <= 0) {
      throw new InvalidArgumentError(`Expected ${names.every} to be a positive finite number of seconds or a cron expression, got \`${String(every)}\` (number)`);
    }
    if (tz !== undefined && tz !== null) {
      throw new InvalidArgumentError(`${names.tz} applies to cron schedules only; an interval in seconds has no time zone`);
    }
    return { kind: 'every', everyMs: Math.max(1, Math.round(every * 1000)) };
  }
  if (typeof every === 'string' && every.trim() !== '') {
    const cron = every.trim();
    // UTC, not this process's zone: the app and a worker in another zone both register the
    // job in setup(), and a default that differed between them would reset it at every start.
    const zone = typeof tz === 'string' ? tz : 'UTC';
    let fires: boolean;
    try {
      fires = cronFor(cron, zone).nextRun() !== null;
    } catch (error) {
      throw new InvalidArgumentError(`Expected ${names.every} to be a valid cron expression, got \`${cron}\`: ${(error as Error).message}`);
    }
    if (!fires) throw new InvalidArgumentError(`Expected ${names.every} to be a cron expression that fires, got \`${cron}\`, which never does`);
    return { kind: 'cron', cron, tz: zone };
  }
  throw new InvalidArgumentError(`Expected ${names.every} to be a positive finite number of seconds or a cron expression, got ${describe(every)}`);
}

/** @throws InvalidArgumentError unless `tz` is an IANA time zone this runtime knows; `name` names it. */
export function assertTimeZone(tz: unknown, name = '`tz`'): asserts tz is string {
  if (typeof tz !== 'string' || tz === '') {
    throw new InvalidArgumentError(`Expected ${name} to be an IANA time zone such as "Europe/Berlin", got ${describe(tz)}`);
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new InvalidArgumentError(`Expected ${name} to be an IANA time zone such as "Europe/Berlin", got \`${tz}\` (unknown time zone)`);
  }
}

/**
 * Fixes a schedule in time. An interval's first run is at once (as in AMsoil)
 * and its n-th run at `anchor + n × every`, whatever the runs take; a cron
 * schedule first fires at its next fire time after `now`.
 */
export function startSchedule(input: ScheduleInput, now: number): { schedule: Schedule; firstRunAt: number } {
  if (input.kind === 'every') {
    return { schedule: { kind: 'every', everyMs: input.everyMs, anchor: now }, firstRunAt: now };
  }
  const schedule: Schedule = { kind: 'cron', cron: input.cron, tz: input.tz };
  return { schedule, firstRunAt: nextFireAfter(schedule, now) };
}

/** Stands for "never": a schedule with no fire time left (a cron with a year field that has passed). */
export const NEVER = Number.MAX_SAFE_INTEGER;

/** The latest instant a Date can hold; croner needs a day's room below it for time zones. */
const MAX_DATE_MS = 8.64e15;
const DAY_MS = 86_400_000;

/** The first fire time strictly after `after`, or {@link NEVER}. */
export function nextFireAfter(schedule: Schedule, after: number): number {
  if (schedule.kind === 'every') {
    const { anchor, everyMs } = schedule;
    if (after < anchor) return anchor;
    return anchor + (Math.floor((after - anchor) / everyMs) + 1) * everyMs;
  }
  if (after >= MAX_DATE_MS - DAY_MS) return NEVER;
  const next = cronFor(schedule.cron, schedule.tz).nextRun(new Date(after));
  return next === null ? NEVER : next.getTime();
}

/** The last fire time at or before `at`, or null if there is none. */
export function lastFireAtOrBefore(schedule: Schedule, at: number): number | null {
  return lastFiresAtOrBefore(schedule, at, 1)[0] ?? null;
}

/** Up to `count` fire times at or before `at`, oldest first. */
export function lastFiresAtOrBefore(schedule: Schedule, at: number, count: number): number[] {
  if (at >= MAX_DATE_MS - DAY_MS) return [];
  if (schedule.kind === 'every') {
    const { anchor, everyMs } = schedule;
    if (at < anchor) return [];
    const last = Math.floor((at - anchor) / everyMs);
    const first = Math.max(0, last - count + 1);
    return Array.from({ length: last - first + 1 }, (_, i) => anchor + (first + i) * everyMs);
  }
  return cronFor(schedule.cron, schedule.tz).previousRuns(count, new Date(at + 1)).map((d) => d.getTime()).reverse();
}

/** What to enqueue now for a recurring job whose `nextRunAt` has come. */
export interface OccurrencePlan {
  /** Fire times to enqueue, oldest first (each becomes one job). */
  readonly fireTimes: readonly number[];
  /** The schedule's next fire time after `now`. */
  readonly nextRunAt: number;
}

/**
 * Decides which occurrences run. `nextRunAt` is the stored next fire time;
 * every fire time from it up to `now` is due. Those within
 * {@link MISFIRE_GRACE_MS} of `now` run; older ones follow `policy` (see
 * {@link MisfirePolicy}). Fire times are what the schedule says, so a late
 * run never shifts later ones (no drift).
 * @throws InvalidArgumentError for a policy this version does not know (a
 *   stored row may come from a newer one), even when nothing was missed.
 */
export function planOccurrences(schedule: Schedule, nextRunAt: number, now: number, policy: MisfirePolicy): OccurrencePlan {
  if (!(MISFIRE_POLICIES as readonly unknown[]).includes(policy)) {
    throw new InvalidArgumentError(`Expected \`misfire\` to be one of ${MISFIRE_POLICIES.join(', ')}, got ${describe(policy)}`);
  }
  if (nextRunAt > now) return { fireTimes: [], nextRunAt };
  const second = nextFireAfter(schedule, nextRunAt);
  if (second > now) {
    // Only the stored next run has come: the normal case while a worker is up, and one schedule lookup.
    const missed = now - nextRunAt > MISFIRE_GRACE_MS;
    return { fireTimes: missed && policy === 'skip' ? [] : [nextRunAt], nextRunAt: second };
  }
  const due = dueFireTimes(schedule, nextRunAt, now);
  const firstOnTime = due.findIndex((t) => now - t <= MISFIRE_GRACE_MS);
  const missed = firstOnTime === -1 ? due : due.slice(0, firstOnTime);
  const onTime = firstOnTime === -1 ? [] : due.slice(firstOnTime);
  const following = nextFireAfter(schedule, now);
  switch (policy) {
    case 'skip':
      return { fireTimes: onTime, nextRunAt: following };
    case 'once':
      return { fireTimes: missed.length === 0 ? onTime : [missed[missed.length - 1]!, ...onTime], nextRunAt: following };
    case 'all':
      return { fireTimes: due, nextRunAt: following };
  }
}

/**
 * The fire times from `nextRunAt` through `now`, oldest first: the newest
 * {@link MAX_CATCH_UP}, so what is due now is never the one left out.
 */
function dueFireTimes(schedule: Schedule, nextRunAt: number, now: number): number[] {
  const due = lastFiresAtOrBefore(schedule, now, MAX_CATCH_UP).filter((t) => t >= nextRunAt);
  // The stored next run is a fire time even where croner's backward search disagrees (around DST changes).
  if (due[0] !== nextRunAt && due.length < MAX_CATCH_UP) due.unshift(nextRunAt);
  return due;
}

const cronCache = new Map<string, Cron>();

/** Parsed croner patterns are reused: parsing costs far more than computing a fire time. */
function cronFor(pattern: string, tz: string | null): Cron {
  const cacheKey = `${tz ?? ''}\u0000${pattern}`;
  let cron = cronCache.get(cacheKey);
  if (cron === undefined) {
    // no-wildcard: a list of fixed times ("30 2,14 * * *") gets the DST rule of a fixed time, not of an interval.
    cron = new Cron(pattern, { ...(tz === null ? {} : { timezone: tz }), paused: true, fixedTimeRule: 'no-wildcard' });
    cronCache.set(cacheKey, cron);
  }
  return cron;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `\`${value}\` (string)`;
  if (value === null) return '`null`';
  if (value instanceof Date) return '`' + String(value) + '` (Date)';
  return `\`${String(value)}\` (${typeof value})`;
}
