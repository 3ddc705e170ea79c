import type { Schema } from './schema.ts';

/** finished_jobs' columns, in the order {@link archive} writes them. */
const FINISHED_COLUMNS = [
  'id', 'state', 'priority', 'run_at', 'attempts', 'max_attempts', 'timeout_ms', 'isolated', 'service', 'method', 'params',
  'recurring_id', 'fire_time', 'key', 'tags', 'created_at', 'started_at', 'finished_at', 'result', 'error',
  'progress_current', 'progress_total', 'progress_at', 'parents', 'ready_at', 'on_parent_failure', 'has_dependants', 'cancelled_by',
  'concurrency_key', 'concurrency_limit', 'rate_limit',
] as const;

type FinishedColumn = (typeof FINISHED_COLUMNS)[number];

/**
 * `INSERT INTO finished_jobs … SELECT … FROM source`: how a job leaves the
 * hot table. `source` is a CTE of rows deleted from `jobs` (`RETURNING j.*`
 * and more); `set` gives the columns that are not copied as they are (the
 * state, the finish time, the result, which `jobs` has no column for).
 */
export function archive(s: Schema, source: string, set: Partial<Record<FinishedColumn, string>> & Pick<Record<FinishedColumn, string>, 'state' | 'finished_at' | 'result'>): string {
  // `jobs` has no cancelled_by: only a parent's failure (migration 0003's trigger) sets it.
  const values = FINISHED_COLUMNS.map((column) => set[column] ?? (column === 'cancelled_by' ? 'NULL::bigint' : column));
  return `INSERT INTO ${s.q}.finished_jobs (${FINISHED_COLUMNS.join(', ')}) SELECT ${values.join(', ')} FROM ${source}`;
}
