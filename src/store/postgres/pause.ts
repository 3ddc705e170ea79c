import type pg from 'pg';
import { BLOCKED_RUN_AT, type PausedTarget } from '../job-store.ts';
import type { Schema } from './schema.ts';

/* Pause and resume on PostgreSQL (migration 0006); the claim holds what it meets of a paused target (claim-jobs.ts). */

export interface PauseStatements {
  readonly pause: string;
  readonly resume: string;
  readonly list: string;
}

export function pauseStatements(s: Schema): PauseStatements {
  return {
    // Jobs held back for another reason (parents, a full concurrency key) are left: the claim holds them once due.
    pause: `
      WITH added AS (
        INSERT INTO ${s.q}.paused (service, method, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1
      ), held AS (
        UPDATE ${s.q}.jobs SET held = true, ready_at = run_at, run_at = ${BLOCKED_RUN_AT}
         WHERE EXISTS (SELECT 1 FROM added) AND state = 0 AND NOT held AND service = $1 AND ($2 = '' OR method = $2)
           AND run_at < ${BLOCKED_RUN_AT}
      )
      SELECT count(*)::integer AS added FROM added`,
    // What no other entry still pauses is due again.
    resume: `
      WITH removed AS (
        DELETE FROM ${s.q}.paused WHERE service = $1 AND method = $2 RETURNING 1
      ), released AS (
        UPDATE ${s.q}.jobs j SET held = false, run_at = j.ready_at
         WHERE EXISTS (SELECT 1 FROM removed) AND j.held AND j.service = $1 AND ($2 = '' OR j.method = $2)
           AND NOT EXISTS (SELECT 1 FROM ${s.q}.paused p
                            WHERE p.service = j.service AND p.method IN ('', j.method) AND NOT (p.method = $2))
      )
      SELECT count(*)::integer AS removed FROM removed`,
    list: `SELECT service, method, at FROM ${s.q}.paused ORDER BY service, method`,
  };
}

export async function pauseTarget(client: pg.ClientBase, sql: PauseStatements, service: string, method: string | null, now: number): Promise<boolean> {
  const { rows } = await client.query<{ added: number }>({ name: 'pause', text: sql.pause, values: [service, method ?? '', now] });
  return rows[0]!.added > 0;
}

export async function resumeTarget(client: pg.ClientBase, sql: PauseStatements, service: string, method: string | null): Promise<boolean> {
  const { rows } = await client.query<{ removed: number }>({ name: 'resume', text: sql.resume, values: [service, method ?? ''] });
  return rows[0]!.removed > 0;
}

export async function listPaused(client: pg.ClientBase, sql: PauseStatements): Promise<PausedTarget[]> {
  const { rows } = await client.query<{ service: string; method: string; at: number }>({ name: 'list-paused', text: sql.list });
  return rows.map(({ service, method, at }) => ({ service, method: method === '' ? null : method, at }));
}
