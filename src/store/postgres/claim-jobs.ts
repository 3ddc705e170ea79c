import type pg from 'pg';
import type { ClaimedJob, ClaimRequest } from '../job-store.ts';
import { databaseId, NOW_MS, STATE, type Schema } from './schema.ts';

export interface ClaimStatements {
  readonly skip: string;
  readonly alone: string;
}

/** Where a claim's two values come from: `$1` and `$2` alone, later parameters when it shares a statement. */
interface ClaimParams {
  readonly owner: string;
  readonly limit: string;
}

/** Orders the jobs a claim takes, and the rows it returns. */
const ORDER = 'priority DESC, run_at, id';

/**
 * The claim: the first due waiting jobs in claim order, locked with
 * `FOR UPDATE SKIP LOCKED` (a job another worker is claiming right now is
 * passed over, not waited for), leased to the owner in the same statement.
 * `MATERIALIZED` keeps the planner from re-running the locking scan per row.
 * Due means `run_at` at or before the database's clock: hosts' clocks may
 * differ, the server's is one. The owner is looked up or registered
 * (owner_id, migration 0001) only when a job is leased: an idle worker's
 * polls write nothing.
 *
 * These are the statement's common table expressions only (`picked`,
 * `owner`, `leased`, without the leading WITH), so that a statement
 * recording outcomes can claim too ({@link claimStatements} completes them).
 */
export function claimParts(s: Schema, params: ClaimParams): ClaimStatements {
  const due = `state = ${STATE.waiting} AND run_at <= ${NOW_MS}`;
  const lease = (picked: string) => `
      owner AS MATERIALIZED (SELECT ${s.q}.owner_id(${params.owner}) AS id),
      leased AS (
        UPDATE ${s.q}.jobs j
           SET state = ${STATE.running}, lease_owner = (SELECT id FROM owner), attempts = j.attempts + 1, started_at = ${NOW_MS}
          FROM ${picked} p
         WHERE j.id = p.id
        RETURNING j.id, j.service, j.method, j.params, j.attempts, j.max_attempts, j.timeout_ms, j.isolated, j.priority, j.run_at
      )`;
  return {
    // For a worker that runs other jobs: isolated jobs are never taken.
    skip: `
      picked AS MATERIALIZED (
        SELECT id FROM ${s.q}.jobs WHERE ${due} AND NOT isolated ORDER BY ${ORDER} LIMIT ${params.limit} FOR UPDATE SKIP LOCKED
      ), ${lease('picked')}`,
    // For a worker running nothing: in order, up to the first isolated job, which is taken alone if it comes first.
    // The rows locked past it stay locked only until this statement's transaction ends.
    alone: `
      picked AS MATERIALIZED (
        SELECT id, isolated, row_number() OVER (ORDER BY ${ORDER}) AS rank
          FROM (SELECT id, isolated, priority, run_at FROM ${s.q}.jobs WHERE ${due} ORDER BY ${ORDER} LIMIT ${params.limit} FOR UPDATE SKIP LOCKED) ordered
      ), cut AS (
        SELECT id FROM picked
         WHERE rank = 1 OR rank < COALESCE((SELECT min(rank) FROM picked WHERE isolated), 9223372036854775807)
      ), ${lease('cut')}`,
  };
}

/** The claim alone, as one statement of `$1` (the owner) and `$2` (the limit). */
export function claimStatements(s: Schema): ClaimStatements {
  const parts = claimParts(s, { owner: '$1', limit: '$2' });
  const select = `
      SELECT id, service, method, params, attempts, max_attempts, timeout_ms, isolated, ${databaseId(s)} AS database
        FROM leased ORDER BY ${ORDER}`;
  return { skip: `WITH ${parts.skip}${select}`, alone: `WITH ${parts.alone}${select}` };
}

/** A claimed row as `leased` returns it (in JSON, inside the statement that also records outcomes). */
export interface ClaimedRow {
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
  return rows.map(toClaimedJob);
}

/** A leased row as the worker sees it. */
export function toClaimedJob(row: ClaimedRow): ClaimedJob {
  return {
    id: row.id,
    service: row.service,
    method: row.method,
    params: row.params,
    attempt: row.attempts,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    isolated: row.isolated,
    database: row.database,
  };
}
