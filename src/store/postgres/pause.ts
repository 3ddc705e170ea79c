import type pg from 'pg';
import { BLOCKED_RUN_AT, type PausedTarget } from '../job-store.ts';
import { useJobFlow, type Schema } from './schema.ts';

/* Pause and resume on PostgreSQL (migration 0006); the claim holds what it meets of a paused target (claim-jobs.ts). */

/**
 * Holds the jobs of CTE `picked` (id, service, method, priority, run_at;
 * their jobs rows locked, flagged and held at never-due by the caller): each
 * gets a job_flow row, or its row is marked, keeping the run time asked for.
 * Shared with the claim, which holds what it meets of a paused target.
 */
export function holdStatement(s: Schema, picked: string): string {
  return `INSERT INTO ${s.q}.job_flow (job_id, service, method, priority, held, ready_at)
        SELECT id, service, method, priority, true, run_at FROM ${picked}
        ON CONFLICT (job_id) DO UPDATE SET held = true, ready_at = EXCLUDED.ready_at`;
}

export interface PauseStatements {
  readonly pause: string;
  readonly resume: string;
  readonly list: string;
  readonly useFlow: string;
}

export function pauseStatements(s: Schema): PauseStatements {
  return {
    // Jobs held back for another reason (parents, a full concurrency key) are left: the claim holds them once due.
    // A held job gets a job_flow row (migration 0010), its jobs row locked and flagged first.
    pause: `
      WITH added AS (
        INSERT INTO ${s.q}.paused (service, method, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1
      ), picked AS MATERIALIZED (
        SELECT j.id, j.service, j.method, j.priority, j.run_at FROM ${s.q}.jobs j
         WHERE EXISTS (SELECT 1 FROM added) AND j.state = 0 AND j.service = $1 AND ($2 = '' OR j.method = $2)
           AND j.run_at < ${BLOCKED_RUN_AT}
         ORDER BY j.id FOR UPDATE
      ), flagged AS (
        UPDATE ${s.q}.jobs j SET flow = true, run_at = ${BLOCKED_RUN_AT} FROM picked p WHERE j.id = p.id
      ), held AS (
        ${holdStatement(s, 'picked')}
      )
      SELECT count(*)::integer AS added FROM added`,
    // What no other entry still pauses is due again.
    resume: `
      WITH removed AS (
        DELETE FROM ${s.q}.paused WHERE service = $1 AND method = $2 RETURNING 1
      ), picked AS MATERIALIZED (
        SELECT j.id, f.ready_at FROM ${s.q}.job_flow f JOIN ${s.q}.jobs j ON j.id = f.job_id
         WHERE EXISTS (SELECT 1 FROM removed) AND f.held AND f.service = $1 AND ($2 = '' OR f.method = $2)
           AND NOT EXISTS (SELECT 1 FROM ${s.q}.paused p
                            WHERE p.service = f.service AND p.method IN ('', f.method) AND NOT (p.method = $2))
         ORDER BY j.id FOR UPDATE OF j
      ), released AS (
        UPDATE ${s.q}.job_flow f SET held = false FROM picked p WHERE f.job_id = p.id
      ), due AS (
        UPDATE ${s.q}.jobs j SET run_at = p.ready_at FROM picked p WHERE j.id = p.id
      )
      SELECT count(*)::integer AS removed FROM removed`,
    list: `SELECT service, method, at FROM ${s.q}.paused ORDER BY service, method`,
    useFlow: useJobFlow(s),
  };
}

export async function pauseTarget(client: pg.ClientBase, sql: PauseStatements, service: string, method: string | null, now: number): Promise<boolean> {
  // Held jobs get job_flow rows, which the triggers remove: made first, by a statement of its own (migration 0009).
  await client.query({ name: 'use-job-flow', text: sql.useFlow });
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
