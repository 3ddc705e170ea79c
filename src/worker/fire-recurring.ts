import { InvalidArgumentError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { MISFIRE_GRACE_MS, nextFireAfter, planOccurrences, type MisfirePolicy, type OccurrencePlan, type Schedule } from '../schedule/schedule.ts';
import type { JobStore, RecurringRecord } from '../store/job-store.ts';

/**
 * The schedule a stored recurring job follows.
 * @throws InvalidArgumentError for an interval that is not a positive whole
 *   number of milliseconds (`addAsRecurring` never stores one; a hand-edited row can).
 */
export function scheduleOf(record: RecurringRecord): Schedule {
  if (record.everyMs === null) return { kind: 'cron', cron: record.cron ?? '', tz: record.tz };
  if (!Number.isSafeInteger(record.everyMs) || record.everyMs <= 0) {
    throw new InvalidArgumentError(`Expected the interval to be a positive integer of milliseconds, got \`${record.everyMs}\``);
  }
  return { kind: 'every', everyMs: record.everyMs, anchor: record.anchor };
}

/**
 * Where a paused recurring job resumes (JobStore.resumeRecurring): its first
 * fire time after `now`, so every occurrence due before it is skipped (those
 * that fell while it was paused, and any overdue already when it was paused)
 * whatever its misfire policy (a long pause of an `all` job must not come
 * back as a burst). A row this version cannot plan resumes at `now`: the
 * worker then logs it as unplannable, as it would have anyway.
 */
export function resumeAt(record: RecurringRecord, now: number): number {
  try {
    return nextFireAfter(scheduleOf(record), now);
  } catch {
    return now;
  }
}

/**
 * Enqueues the occurrences of recurring jobs as they fall due and advances
 * each to its next fire time. Safe with any number of workers: the store
 * advances a schedule only from the next run it was read with, and a unique
 * key refuses a second copy of an occurrence.
 *
 * A row this version cannot plan (a misfire policy from a newer version, a
 * time zone or cron expression this runtime rejects) is logged once and left
 * alone until it changes, so one bad row never stops the others, nor the
 * claiming that follows. Keep one instance per worker: it remembers the bad rows.
 */
export class RecurringFirer {
  readonly #store: JobStore;
  readonly #log: Logger;
  /** Rows that could not be planned: id → {@link planningInput} as it was when planning failed. */
  readonly #unplannable = new Map<number, string>();

  constructor(store: JobStore, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  /**
   * Enqueues due occurrences of every plannable recurring job; returns when
   * the next plannable one falls due (Infinity if none). Never throws for a
   * bad row; a failing store still throws.
   */
  async fireDue(now: number): Promise<number> {
    for (const record of await this.#store.dueRecurring(now)) {
      const plan = this.#plan(record, now);
      if (plan === undefined) continue;
      if (await this.#store.fireRecurring(record.id, record.nextRunAt, plan.fireTimes, plan.nextRunAt, now)) {
        if (plan.fireTimes.length !== 1 || plan.fireTimes[0] !== record.nextRunAt || now - record.nextRunAt > MISFIRE_GRACE_MS) {
          this.#log.info(
            { recurringId: record.id, service: record.service, method: record.method, name: record.name, missedSince: new Date(record.nextRunAt).toISOString(), enqueued: plan.fireTimes.length, policy: record.misfire },
            'recurring job was late; applied its misfire policy',
          );
        }
      }
    }
    return this.#nextDue();
  }

  /** The plan for a due row, or undefined for a row that cannot be planned (logged the first time). */
  #plan(record: RecurringRecord, now: number): OccurrencePlan | undefined {
    const input = planningInput(record);
    if (this.#unplannable.get(record.id) === input) return undefined;
    try {
      // A stored policy this version does not know is refused by planOccurrences.
      const plan = planOccurrences(scheduleOf(record), record.nextRunAt, now, record.misfire as MisfirePolicy);
      this.#unplannable.delete(record.id);
      return plan;
    } catch (error) {
      this.#unplannable.set(record.id, input);
      const signature = `${record.service}.${record.method}${record.name === '' ? '' : `#${record.name}`}`;
      const why = error instanceof Error ? error.message : String(error);
      this.#log.error(
        { recurringId: record.id, signature, everyMs: record.everyMs, cron: record.cron, tz: record.tz, misfire: record.misfire, err: error },
        `recurring job ${record.id} (${signature}) cannot be planned, so it is skipped until it changes (add it again with a valid schedule): ${why}`,
      );
      return undefined;
    }
  }

  /** The earliest next run among the rows that can be planned. */
  async #nextDue(): Promise<number> {
    const earliest = await this.#store.nextRecurringAt();
    if (earliest === null) return Number.POSITIVE_INFINITY;
    if (this.#unplannable.size === 0) return earliest;
    // A bad row may hold the earliest next run, forever in the past: look past it. Rare, so a full read is fine.
    let next = Number.POSITIVE_INFINITY;
    const present = new Set<number>();
    for (const record of await this.#store.listRecurring()) {
      present.add(record.id);
      if (this.#unplannable.get(record.id) !== planningInput(record)) next = Math.min(next, record.nextRunAt);
    }
    for (const id of this.#unplannable.keys()) if (!present.has(id)) this.#unplannable.delete(id); // removed since
    return next;
  }
}

/** What planning a row depends on: when any of it changes, the row is tried again. */
function planningInput(record: RecurringRecord): string {
  return JSON.stringify([record.nextRunAt, record.everyMs, record.anchor, record.cron, record.tz, record.misfire]);
}
