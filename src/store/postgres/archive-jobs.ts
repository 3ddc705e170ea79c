import type { Schema } from './schema.ts';

/** finished_jobs' columns, in the order {@link archive} writes them. */
const FINISHED_COLUMNS = [
  'id', 'state', 'priority', 'run_at', 'attempts', 'max_attempts', 'timeout_ms', 'isolated', 'service', 'method', 'params',
  'recurring_id', 'fire_time', 'key', 'tags', 'created_at', 'started_at', 'finished_at', 'result', 'error',
  'progress_current', 'progress_total', 'progress_at', 'parents', 'ready_at', 'on_parent_failure', 'has_dependants', 'cancelled_by',
  'concurrency_key', 'concurrency_limit', 'rate_limit',
] as const;

type FinishedColumn = (typeof FINISHED_COLUMNS)[number];

/** The columns finished_jobs keeps of a job's job_flow row (migration 0010, `fl`: see {@link flowRow}), and what a job without one has. */
const FROM_FLOW: Partial<Record<FinishedColumn, string>> = {
  parents: 'COALESCE((fl).parents, 0)',
  ready_at: '(fl).ready_at',
  on_parent_failure: 'COALESCE((fl).on_parent_failure, false)',
  has_dependants: 'COALESCE((fl).has_dependants, false)',
  concurrency_key: '(fl).concurrency_key',
  concurrency_limit: '(fl).concurrency_limit',
  rate_limit: '(fl).rate_limit',
};

/**
 * A column for the RETURNING of a DELETE from `jobs` (as `alias`) that
 * {@link archive} reads: the job's job_flow row as one composite value,
 * `fl`, looked up for a flagged job only (CASE evaluates its branch alone),
 * NULL for a plain one. The row is still there: the row trigger that
 * removes it runs at the end of the statement. One composite rather than a
 * join in the archive: a lateral join cost ~1.9k server instructions per
 * archived job even when its lookup was skipped (bench/pg-instructions.sh).
 */
export function flowRow(s: Schema, alias: string): string {
  return `CASE WHEN ${alias}.flow THEN (SELECT f FROM ${s.q}.job_flow f WHERE f.job_id = ${alias}.id) END AS fl`;
}

/**
 * `INSERT INTO finished_jobs … SELECT … FROM source`: how a job leaves the
 * hot table. `source` is a CTE of rows deleted from `jobs` (`RETURNING j.*`,
 * {@link flowRow} and more); `set` gives the columns that are not copied as
 * they are (the state, the finish time, the result, which `jobs` has no
 * column for). A flagged job's workflow and limit columns come from its
 * job_flow row; `finished_jobs` keeps them.
 */
export function archive(s: Schema, source: string, set: Partial<Record<FinishedColumn, string>> & Pick<Record<FinishedColumn, string>, 'state' | 'finished_at' | 'result'>): string {
  // `jobs` has no cancelled_by: only a parent's failure (migration 0010's trigger) sets it.
  const values = FINISHED_COLUMNS.map((column) => set[column] ?? FROM_FLOW[column] ?? (column === 'cancelled_by' ? 'NULL::bigint' : column));
  return `INSERT INTO ${s.q}.finished_jobs (${FINISHED_COLUMNS.join(', ')}) SELECT ${values.join(', ')} FROM ${source}`;
}
