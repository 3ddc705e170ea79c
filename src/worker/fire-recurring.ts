import type { Logger } from '../log/logger.ts';
import { planOccurrences, type MisfirePolicy, type Schedule } from '../schedule/schedule.ts';
import type { JobStore, RecurringRecord } from '../store/job-store.ts';

/** The schedule a stored recurring job follows. */
export function scheduleOf(record: RecurringRecord): Schedule {
  return record.everyMs !== null
    ? { kind: 'every', everyMs: record.everyMs, anchor: record.anchor }
    : { kind: 'cron', cron: record.cron ?? '', tz: record.tz };
}

/**
 * Enqueues the occurrences of every recurring job that has fallen due and
 * advances each to its next fire time. Safe with any number of workers: the
 * store advances a schedule only from the next run it was read with, and a
 * unique key refuses a second copy of an occurrence.
 * @returns when the next recurring job falls due (Infinity if there is none).
 */
export async function fireDueRecurring(store: JobStore, now: number, log: Logger): Promise<number> {
  for (const record of await store.dueRecurring(now)) {
    const plan = planOccurrences(scheduleOf(record), record.nextRunAt, now, record.misfire as MisfirePolicy);
    if (await store.fireRecurring(record.id, record.nextRunAt, plan.fireTimes, plan.nextRunAt, now)) {
      if (plan.fireTimes.length !== 1 || plan.fireTimes[0] !== record.nextRunAt || now - record.nextRunAt > 5_000) {
        log.info(
          { recurringId: record.id, service: record.service, method: record.method, name: record.name, missedSince: new Date(record.nextRunAt).toISOString(), enqueued: plan.fireTimes.length, policy: record.misfire },
          'recurring job was late; applied its misfire policy',
        );
      }
    }
  }
  return (await store.nextRecurringAt()) ?? Number.POSITIVE_INFINITY;
}
