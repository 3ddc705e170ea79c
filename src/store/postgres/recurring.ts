import type pg from 'pg';
import type { RecurringRecord, RecurringSpec } from '../job-store.ts';
import { STATE, type Schema } from './schema.ts';

/* Recurring jobs: their registrations, and enqueuing their occurrences exactly once. */

export interface RecurringStatements {
  readonly upsert: string;
  readonly fire: string;
  readonly next: string;
  readonly due: string;
  readonly list: string;
  readonly clear: string;
  readonly remove: string;
  readonly pause: string;
  readonly resume: string;
}

const COLUMNS = `id, service, method, name, params, every_ms AS "everyMs", cron, tz, misfire, priority, max_attempts AS "maxAttempts",
  timeout_ms AS "timeoutMs", anchor, next_run_at AS "nextRunAt", created_at AS "createdAt", paused_at AS "pausedAt"`;

export function recurringStatements(s: Schema): RecurringStatements {
  // An unchanged schedule keeps its anchor and next run, so registering the same job at every start-up changes nothing in time.
  const same = `recurring.every_ms IS NOT DISTINCT FROM EXCLUDED.every_ms AND recurring.cron IS NOT DISTINCT FROM EXCLUDED.cron
    AND recurring.tz IS NOT DISTINCT FROM EXCLUDED.tz`;
  return {
    // One statement on the signature's unique constraint: two hosts registering at once cannot make two.
    upsert: `
      INSERT INTO ${s.q}.recurring AS recurring (service, method, name, params, every_ms, cron, tz, misfire, priority, max_attempts,
                                                 timeout_ms, anchor, next_run_at, created_at, updated_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
      ON CONFLICT (service, method, name) DO UPDATE SET
        params = EXCLUDED.params, misfire = EXCLUDED.misfire, priority = EXCLUDED.priority, max_attempts = EXCLUDED.max_attempts,
        timeout_ms = EXCLUDED.timeout_ms, updated_at = EXCLUDED.updated_at,
        every_ms = EXCLUDED.every_ms, cron = EXCLUDED.cron, tz = EXCLUDED.tz,
        anchor = CASE WHEN ${same} THEN recurring.anchor ELSE EXCLUDED.anchor END,
        next_run_at = CASE WHEN ${same} THEN recurring.next_run_at ELSE EXCLUDED.next_run_at END
      RETURNING ${COLUMNS}`,
    // Compare-and-set on next_run_at (a second scheduler that read the old value changes nothing: the row lock makes it
    // wait, then re-check), and recurring_fires' primary key refuses an occurrence enqueued before, whatever the schedule did.
    fire: `
      WITH advanced AS (
        UPDATE ${s.q}.recurring SET next_run_at = $3 WHERE id = $1 AND next_run_at = $2 AND paused_at IS NULL RETURNING *
      ), fires AS (
        INSERT INTO ${s.q}.recurring_fires (recurring_id, fire_time)
        SELECT a.id, f FROM advanced a, unnest($4::bigint[]) f
        ON CONFLICT DO NOTHING
        RETURNING recurring_id, fire_time
      ), enqueued AS (
        INSERT INTO ${s.q}.jobs (state, service, method, params, priority, run_at, max_attempts, timeout_ms, recurring_id, fire_time, created_at)
        SELECT ${STATE.waiting}, a.service, a.method, a.params, a.priority, f.fire_time, a.max_attempts, a.timeout_ms, a.id, f.fire_time, $5
          FROM advanced a JOIN fires f ON f.recurring_id = a.id
         ORDER BY f.fire_time
      )
      SELECT count(*)::integer AS advanced FROM advanced`,
    next: `SELECT min(next_run_at) AS at FROM ${s.q}.recurring WHERE paused_at IS NULL`,
    due: `SELECT ${COLUMNS} FROM ${s.q}.recurring WHERE next_run_at <= $1 AND paused_at IS NULL ORDER BY next_run_at, id`,
    list: `SELECT ${COLUMNS} FROM ${s.q}.recurring ORDER BY service, method, name`,
    clear: `DELETE FROM ${s.q}.recurring`,
    remove: `DELETE FROM ${s.q}.recurring WHERE service = $1 AND method = $2 AND name = $3`,
    // Both idempotent, so safe to send again after a lost connection.
    pause: `UPDATE ${s.q}.recurring SET paused_at = COALESCE(paused_at, $2) WHERE id = $1`,
    resume: `
      UPDATE ${s.q}.recurring
         SET next_run_at = CASE WHEN paused_at IS NULL THEN next_run_at ELSE GREATEST(next_run_at, $2) END, paused_at = NULL
       WHERE id = $1`,
  };
}

export async function upsertRecurring(client: pg.ClientBase, sql: RecurringStatements, spec: RecurringSpec): Promise<RecurringRecord> {
  const { rows } = await client.query<RecurringRecord>({
    name: 'upsert-recurring',
    text: sql.upsert,
    values: [spec.service, spec.method, spec.name, spec.params, spec.everyMs, spec.cron, spec.tz, spec.misfire, spec.priority,
      spec.maxAttempts, spec.timeoutMs, spec.anchor, spec.nextRunAt, spec.createdAt],
  });
  return rows[0]!;
}

export async function fireRecurring(
  client: pg.ClientBase, sql: RecurringStatements, id: number, expected: number, fireTimes: readonly number[], nextRunAt: number, now: number,
): Promise<boolean> {
  const { rows } = await client.query<{ advanced: number }>({ name: 'fire-recurring', text: sql.fire, values: [id, expected, nextRunAt, fireTimes, now] });
  return rows[0]!.advanced === 1;
}
