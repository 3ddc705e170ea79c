import type { Schema } from './schema.ts';

/** finished_jobs' columns, in the order {@link archive} writes them. */
const FINISHED_COLUMNS = [
  'id', 'state', 'priority', 'run_at', 'attempts', 'max_attempts', 'timeout_ms', 'isolated', 'service', 'method', 'params',
  'recurring_id', 'fire_time', 'key', 'tags', 'created_at', 'started_at', 'finished_at', 'result', 'error',
  'progress_current', 'progress_total', 'progress_at', 'parents', 'ready_at', 'on_parent_failure', 'has_dependants', 'cancelled_by',
  'concurrency_key', 'concurrency_limit', 'rate_limit',
] as const;

type FinishedColumn = (typeof FINISHED_COLUMNS)[number];

/** The columns finished_jobs keeps of a job's job_flow row (migration 0010), and what a job without one has. */
const FROM_FLOW: Partial<Record<FinishedColumn, string>> = {
  parents: 'COALESCE(fl.fl_parents, 0)',
  ready_at: 'fl.fl_ready_at',
  on_parent_failure: 'COALESCE(fl.fl_on_parent_failure, false)',
  has_dependants: 'COALESCE(fl.fl_has_dependants, false)',
  concurrency_key: 'fl.fl_concurrency_key',
  concurrency_limit: 'fl.fl_concurrency_limit',
  rate_limit: 'fl.fl_rate_limit',
};

/**
 * `INSERT INTO finished_jobs … SELECT … FROM source`: how a job leaves the
 * hot table. `source` is a CTE of rows deleted from `jobs` (`RETURNING j.*`
 * and more); `set` gives the columns that are not copied as they are (the
 * state, the finish time, the result, which `jobs` has no column for). A
 * flagged job's workflow and limit columns come from its job_flow row, which
 * the row trigger on the DELETE removes at the end of the statement; a plain
 * job's lookup is skipped (its `flow` is false: the lateral's filter is
 * checked before any scan, a one-time filter of the subquery).
 */
export function archive(s: Schema, source: string, set: Partial<Record<FinishedColumn, string>> & Pick<Record<FinishedColumn, string>, 'state' | 'finished_at' | 'result'>): string {
  // `jobs` has no cancelled_by: only a parent's failure (migration 0010's trigger) sets it.
  const values = FINISHED_COLUMNS.map((column) => set[column] ?? FROM_FLOW[column] ?? (column === 'cancelled_by' ? 'NULL::bigint' : column));
  return `INSERT INTO ${s.q}.finished_jobs (${FINISHED_COLUMNS.join(', ')}) SELECT ${values.join(', ')} FROM ${source}
    LEFT JOIN LATERAL (
      SELECT f.parents AS fl_parents, f.ready_at AS fl_ready_at, f.on_parent_failure AS fl_on_parent_failure,
             f.has_dependants AS fl_has_dependants, f.concurrency_key AS fl_concurrency_key,
             f.concurrency_limit AS fl_concurrency_limit, f.rate_limit AS fl_rate_limit
        FROM ${s.q}.job_flow f WHERE ${source}.flow AND f.job_id = ${source}.id
       OFFSET 0 -- kept a subquery, so that its filter on flow is checked before the scan: pulled up, it was checked after
    ) fl ON true`;
}
