import type { JobErrorInfo, JobRecord, JobState, Progress } from '../job-store.ts';
import { quoteIdent } from './migrate.ts';

/**
 * The store's schema, for building its SQL: every table name is qualified
 * (no search_path per connection, which a transaction-pooling proxy would
 * not keep), and every statement is built once per store.
 */
export interface Schema {
  readonly name: string;
  /** `"name"`, ready to put before a table: `${s.q}.jobs`. */
  readonly q: string;
}

export function schemaOf(name: string): Schema {
  return { name, q: quoteIdent(name) };
}

/** How a job's state is stored: a small integer, written into the SQL as a literal so partial indexes match. */
export const STATE = { waiting: 0, running: 1, succeeded: 2, failed: 3, cancelled: 4 } as const;
const STATE_NAMES: readonly JobState[] = ['waiting', 'running', 'succeeded', 'failed', 'cancelled'];

export function stateName(state: number): JobState {
  const name = STATE_NAMES[state];
  if (name === undefined) throw new Error(`unknown job state ${state} in the jobs database`);
  return name;
}

/**
 * The database server's clock in epoch milliseconds, fixed for the
 * statement: due jobs, retry delays and the instants the store records
 * itself are judged by one clock for every host (see PostgresStore).
 */
export const NOW_MS = `(floor(extract(epoch FROM statement_timestamp()) * 1000))::bigint`;

/** The database identity (migration 0001's meta row), as a scalar sub-select. */
export function databaseId(s: Schema): string {
  return `(SELECT value FROM ${s.q}.meta WHERE name = 'database_id')`;
}

/**
 * Makes the row triggers of job_flow if the schema has none yet (migrations
 * 0009 and 0010): every path that gives a job a job_flow row runs it first,
 * as a statement of its own, before it holds any lock on `jobs`.
 */
export function useJobFlow(s: Schema): string {
  return `SELECT ${s.q}.use_job_flow()`;
}

/**
 * The columns a {@link JobRecord} is read from, common to both job tables
 * (`j`; `fl`, the job_flow row, for `jobs`: see {@link jobsFrom}), with the owner's name.
 */
export function jobColumns(s: Schema, table: 'jobs' | 'finished_jobs'): string {
  const live = table === 'jobs';
  // A live job's workflow and limit columns are in its job_flow row (migration 0010), finished_jobs keeps its own.
  const flow = (column: string, none: string): string => (live ? `COALESCE(fl.${column}, ${none})` : `j.${column}`);
  return `j.id, j.service, j.method, j.params, j.state, j.priority, j.run_at, j.attempts, j.max_attempts, j.timeout_ms,
    ${live ? 'NULL::text' : 'j.result'} AS result, j.error, j.recurring_id, j.fire_time,
    ${live ? `(SELECT o.name FROM ${s.q}.owners o WHERE o.id = j.lease_owner)` : 'NULL::text'} AS lease_owner,
    j.created_at, j.started_at, ${live ? 'NULL::bigint' : 'j.finished_at'} AS finished_at, j.key, j.tags,
    j.progress_current, j.progress_total, j.progress_at, j.isolated, ${flow('parents', '0')} AS parents,
    ${flow('ready_at', 'NULL::bigint')} AS ready_at, ${live ? 'COALESCE(fl.waiting_for, 0)' : '0'} AS waiting_for,
    ${live ? 'NULL::bigint' : 'j.cancelled_by'} AS cancelled_by,
    ${flow('concurrency_key', 'NULL::text')} AS concurrency_key, ${flow('concurrency_limit', 'NULL::integer')} AS concurrency_limit,
    ${live ? 'COALESCE(fl.parked, false)' : 'false'} AS parked, ${live ? 'COALESCE(fl.held, false)' : 'false'} AS held,
    ${flow('rate_limit', 'NULL::text')} AS rate_limit,
    CASE WHEN ${flow('parents', '0')} > 0 THEN ARRAY(SELECT p.parent_id FROM ${s.q}.job_parents p WHERE p.job_id = j.id ORDER BY p.position) END AS after_ids`;
}

/** What {@link jobColumns} reads from: the job table as `j`, and for `jobs` its job_flow rows as `fl`. */
export function jobsFrom(s: Schema, table: 'jobs' | 'finished_jobs'): string {
  return table === 'jobs' ? `${s.q}.jobs j LEFT JOIN ${s.q}.job_flow fl ON fl.job_id = j.id` : `${s.q}.finished_jobs j`;
}

/** A row of {@link jobColumns}. */
export interface JobRow {
  id: number;
  service: string;
  method: string;
  params: string;
  state: number;
  priority: number;
  run_at: number;
  attempts: number;
  max_attempts: number;
  timeout_ms: number | null;
  result: string | null;
  error: string | null;
  recurring_id: number | null;
  fire_time: number | null;
  lease_owner: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  key: string | null;
  tags: string[] | null;
  progress_current: number | null;
  progress_total: number | null;
  progress_at: number | null;
  isolated: boolean;
  parents: number;
  ready_at: number | null;
  waiting_for: number;
  cancelled_by: number | null;
  after_ids: number[] | null;
  concurrency_key: string | null;
  concurrency_limit: number | null;
  parked: boolean;
  held: boolean;
  rate_limit: string | null;
}

export function toJobRecord(row: JobRow, database: string): JobRecord {
  return {
    id: row.id,
    service: row.service,
    method: row.method,
    params: row.params,
    state: stateName(row.state),
    priority: row.priority,
    runAt: (row.parents > 0 || row.parked || row.held) && row.ready_at !== null ? row.ready_at : row.run_at,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    result: row.result,
    error: parseError(row.error),
    recurringId: row.recurring_id,
    fireTime: row.fire_time,
    leaseOwner: row.lease_owner,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    key: row.key,
    tags: row.tags ?? [],
    progress: progressOf(row.progress_current, row.progress_total, row.progress_at),
    isolated: row.isolated,
    database,
    after: row.after_ids ?? [],
    waitingFor: row.waiting_for,
    cancelledBy: row.cancelled_by,
    concurrency: row.concurrency_key === null ? null : { key: row.concurrency_key, limit: row.concurrency_limit ?? 1 },
    parked: row.parked,
    held: row.held,
    rateLimit: row.rate_limit,
  };
}

export function parseError(text: string | null): JobErrorInfo | null {
  return text === null ? null : (JSON.parse(text) as JobErrorInfo);
}

export function progressOf(current: number | null, total: number | null, at: number | null): Progress | null {
  return current === null || total === null || at === null ? null : { current, total, at };
}
