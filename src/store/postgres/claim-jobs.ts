import type pg from 'pg';
import type { ClaimedJob, ClaimRequest } from '../job-store.ts';
import { databaseId, NOW_MS, STATE, type Schema } from './schema.ts';

export interface ClaimStatements {
  readonly skip: string;
  readonly alone: string;
}

/**
 * The claim: the first due waiting jobs in claim order, locked with
 * `FOR UPDATE SKIP LOCKED` (a job another worker is claiming right now is
 * passed over, not waited for), leased to the owner in the same statement.
 * `MATERIALIZED` keeps the planner from re-running the locking scan per row.
 * Due means `run_at` at or before the database's clock: hosts' clocks may
 * differ, the server's is one. The owner is looked up or registered
 * (owner_id, migration 0001) only when a job is leased: an idle worker's
 * polls write nothing.
 */
export function claimStatements(s: Schema): ClaimStatements {
  const due = `state = ${STATE.waiting} AND run_at <= ${NOW_MS}`;
  const order = 'priority DESC, run_at, id';
  const lease = (picked: string) => `
      owner AS MATERIALIZED (SELECT ${s.q}.owner_id($1) AS id),
      leased AS (
        UPDATE ${s.q}.jobs j
           SET state = ${STATE.running}, lease_owner = (SELECT id FROM owner), attempts = j.attempts + 1, started_at = ${NOW_MS}
          FROM ${picked} p
         WHERE j.id = p.id
        RETURNING j.id, j.service, j.method, j.params, j.attempts, j.max_attempts, j.timeout_ms, j.isolated, j.priority, j.run_at
      )
      SELECT id, service, method, params, attempts, max_attempts, timeout_ms, isolated, ${databaseId(s)} AS database
        FROM leased ORDER BY ${order}`;
  return {
    // For a worker that runs other jobs: isolated jobs are never taken.
    skip: `
      WITH picked AS MATERIALIZED (
        SELECT id FROM ${s.q}.jobs WHERE ${due} AND NOT isolated ORDER BY ${order} LIMIT $2 FOR UPDATE SKIP LOCKED
      ), ${lease('picked')}`,
    // For a worker running nothing: in order, up to the first isolated job, which is taken alone if it comes first.
    // The rows locked past it stay locked only until this statement's transaction ends.
    alone: `
      WITH picked AS MATERIALIZED (
        SELECT id, isolated, row_number() OVER (ORDER BY ${order}) AS rank
          FROM (SELECT id, isolated, priority, run_at FROM ${s.q}.jobs WHERE ${due} ORDER BY ${order} LIMIT $2 FOR UPDATE SKIP LOCKED) ordered
      ), cut AS (
        SELECT id FROM picked
         WHERE rank = 1 OR rank < COALESCE((SELECT min(rank) FROM picked WHERE isolated), 9223372036854775807)
      ), ${lease('cut')}`,
  };
}

interface ClaimedRow {
  id: number;
  service: string;
  method: string;
  params: string;
  attempts: number;
  max_attempts: number;
  timeout_ms: number | null;
  isolated: boolean;
  database: string;
}

/** Runs the claim on `client` (in the caller's transaction, or alone: one statement is atomic). */
export async function claimJobs(client: pg.ClientBase, sql: ClaimStatements, request: ClaimRequest): Promise<ClaimedJob[]> {
  if (request.limit <= 0) return [];
  const text = request.isolated === 'alone' ? sql.alone : sql.skip;
  const { rows } = await client.query<ClaimedRow>({ name: `claim-${request.isolated}`, text, values: [request.owner, request.limit] });
  return rows.map((row) => ({
    id: row.id,
    service: row.service,
    method: row.method,
    params: row.params,
    attempt: row.attempts,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    isolated: row.isolated,
    database: row.database,
  }));
}
