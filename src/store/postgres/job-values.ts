import type { NewJob } from '../job-store.ts';

/*
 * A new job's `jobs` columns as the add statements take them (insert-jobs.ts,
 * keyed-rows.ts): the column list, the values in its order, and tags.
 */

/** The `jobs` columns every add fills, in the order of {@link values}. */
export const COLUMNS = 'service, method, params, priority, run_at, max_attempts, timeout_ms, created_at, tags';

/** Tags travel as JSON text per row: unnest cannot take an array of arrays of different lengths. */
export const TAGS = (json: string): string => `CASE WHEN ${json} IS NULL THEN NULL ELSE ARRAY(SELECT json_array_elements_text(${json}::json)) END`;

function tagsJson(job: NewJob): string | null {
  return job.tags === undefined || job.tags === null || job.tags.length === 0 ? null : JSON.stringify(job.tags);
}

/** `job`'s values for {@link COLUMNS}, tags as JSON text (see {@link TAGS}). */
export function values(job: NewJob): unknown[] {
  return [job.service, job.method, job.params, job.priority, job.runAt, job.maxAttempts, job.timeoutMs, job.createdAt, tagsJson(job)];
}
