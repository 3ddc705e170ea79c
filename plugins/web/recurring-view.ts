import { Cron } from 'croner';
import { recurringToJson, type RecurringJson } from '../../src/cli/format.ts';
import type { JobRecord, RecurringRecord } from '../../src/store/job-store.ts';

/**
 * A recurring job as the Recurring page shows it. `pausedAt` (from
 * recurringToJson) is when it was paused, ISO 8601, or null while it runs.
 */
export interface RecurringView extends RecurringJson {
  /** The schedule in words: "every 10 seconds", "at 07:00 every day (Europe/Berlin)". */
  readonly words: string;
  /**
   * The next five fire times, ISO 8601; empty while paused (it fires nothing
   * then, and resumes at its first fire time after the resume).
   */
  readonly nextFires: readonly string[];
  /** The newest occurrence's state and id, if one is among the recent jobs. */
  readonly last: { readonly id: number; readonly state: string; readonly finishedAt: string | null } | null;
  /** How far it is behind its next run; 0 while paused (it is meant to add nothing then). */
  readonly lagSeconds: number;
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

function plural(n: number, unit: string): string {
  return n === 1 ? `every ${unit}` : `every ${n} ${unit}s`;
}

/** An interval in words, in the largest whole unit. */
export function intervalWords(ms: number): string {
  for (const [unit, size] of [['day', 86_400_000], ['hour', 3_600_000], ['minute', 60_000], ['second', 1000]] as const) {
    if (ms % size === 0) return plural(ms / size, unit);
  }
  return `every ${ms / 1000} seconds`;
}

/**
 * A cron expression in words for the common shapes (fixed times, steps,
 * weekdays); anything else is given back as the expression itself, which
 * the page shows beside it anyway.
 */
export function cronWords(expression: string): string {
  const fields = expression.trim().split(/\s+/);
  // Six fields: croner's leading seconds.
  const [minute, hour, dom, month, dow] = fields.length === 6 ? fields.slice(1) : fields;
  if (minute === undefined || hour === undefined || dom === undefined || month === undefined || dow === undefined) return expression;
  const num = /^\d+$/;
  const step = (field: string): number | null => (/^\*\/\d+$/.test(field) ? Number(field.slice(2)) : null);
  let time: string | null = null;
  if (num.test(minute) && num.test(hour)) time = `at ${hour.padStart(2, '0')}:${minute.padStart(2, '0')}`;
  else if (num.test(minute) && hour === '*') time = `at minute ${minute} of every hour`;
  else if (minute === '*' && hour === '*') time = 'every minute';
  else if (step(minute) !== null && hour === '*') time = plural(step(minute)!, 'minute');
  else if (num.test(minute) && step(hour) !== null) time = `at minute ${minute} ${plural(step(hour)!, 'hour')}`;
  if (time === null || month !== '*') return expression;
  let days: string | null = null;
  if (dom === '*' && dow === '*') days = 'every day';
  else if (dom === '*' && /^[0-6](,[0-6])*$/.test(dow)) days = `on ${dow.split(',').map((d) => DAYS[Number(d)]).join(', ')}`;
  else if (dom === '*' && dow === '1-5') days = 'on weekdays';
  else if (num.test(dom) && dow === '*') days = `on day ${dom} of the month`;
  if (days === null) return expression;
  return time.startsWith('every') && days === 'every day' ? time : `${time} ${days}`;
}

/** The next `count` fire times at or after `from` (the stored next run first). */
export function nextFireTimes(record: RecurringRecord, count: number): number[] {
  if (record.everyMs !== null) return Array.from({ length: count }, (_, i) => record.nextRunAt + i * record.everyMs!);
  const cron = new Cron(record.cron ?? '* * * * *', { ...(record.tz === null ? {} : { timezone: record.tz }), paused: true });
  const times = [record.nextRunAt];
  let after = new Date(record.nextRunAt);
  while (times.length < count) {
    const next = cron.nextRun(after);
    if (next === null) break;
    times.push(next.getTime());
    after = next;
  }
  return times;
}

export function recurringView(record: RecurringRecord, last: JobRecord | undefined, now: number): RecurringView {
  const schedule = record.everyMs !== null ? intervalWords(record.everyMs) : cronWords(record.cron ?? '');
  const paused = record.pausedAt !== null;
  return {
    ...recurringToJson(record),
    words: record.cron !== null ? `${schedule} (${record.tz ?? 'UTC'})` : schedule,
    nextFires: paused ? [] : nextFireTimes(record, 5).map((t) => new Date(t).toISOString()),
    last: last === undefined ? null : { id: last.id, state: last.state, finishedAt: last.finishedAt === null ? null : new Date(last.finishedAt).toISOString() },
    lagSeconds: paused ? 0 : Math.max(0, now - record.nextRunAt) / 1000,
  };
}
