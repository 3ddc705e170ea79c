import { JobNotFoundError } from '../../errors.ts';
import type { Activity, AttemptFailures, DeleteOutcome, FinishedJobActivity, JobPageRequest, JobSearch } from '../job-store.ts';
import { JOB_COLUMNS, JOBS_WITH_TARGETS, STATE } from './queries.ts';
import type { JobRow, Statements } from './statements.ts';

/*
 * The reads and single-job actions of the dashboard and the HTTP API. The
 * searches are built from the filters given (a clause per filter, values
 * bound by name) and walk the table by rowid, newest first: no index for
 * every add to pay for, and a page costs the rows it reads, bounded by
 * `scanIds` when a filter matches few.
 */

type Bindings = Record<string, string | number>;

/** The WHERE clauses of `search`, and their values. States are literals: the store's own integers. */
function whereOf(search: JobSearch): { clauses: string[]; values: Bindings } {
  const clauses: string[] = [];
  const values: Bindings = {};
  if (search.states !== undefined) {
    // `+state`: compare, never pick an index by it; the order is the rowid's (a partial index would need a sort).
    clauses.push(search.states.length === 0 ? '0' : `+jobs.state IN (${search.states.map((s) => STATE[s]).join(', ')})`);
  }
  if (search.service !== undefined) {
    clauses.push('targets.service = @service');
    values.service = search.service;
  }
  if (search.method !== undefined) {
    clauses.push('targets.method = @method');
    values.method = search.method;
  }
  if (search.tag !== undefined) {
    clauses.push('EXISTS (SELECT 1 FROM json_each(jobs.tags) WHERE value = @tag)');
    values.tag = search.tag;
  }
  if (search.key !== undefined) {
    clauses.push('+jobs.key = @key');
    values.key = search.key;
  }
  if (search.text !== undefined) {
    // instr, not LIKE: no wildcard in the user's text to escape.
    clauses.push('(instr(lower(jobs.params), @text) > 0 OR instr(lower(coalesce(jobs.error, \'\')), @text) > 0)');
    values.text = search.text.toLowerCase();
  }
  if (search.recurringId !== undefined) {
    clauses.push('+jobs.recurring_id = @recurringId');
    values.recurringId = search.recurringId;
  }
  if (search.createdFrom !== undefined) {
    clauses.push('jobs.created_at >= @createdFrom');
    values.createdFrom = search.createdFrom;
  }
  if (search.createdBefore !== undefined) {
    clauses.push('jobs.created_at < @createdBefore');
    values.createdBefore = search.createdBefore;
  }
  return { clauses, values };
}

/** See JobStore.searchJobs. @returns rows to map to records, and the next page's `beforeId`. */
export function searchJobs(s: Statements, search: JobSearch, page: JobPageRequest): { rows: JobRow[]; next: number | null } {
  const { clauses, values } = whereOf(search);
  const before = page.beforeId ?? Number.MAX_SAFE_INTEGER;
  clauses.push('jobs.id < @before');
  values.before = before;
  // The floor of the scan: ids below it are the next request's.
  const floor = page.scanIds === undefined ? 0 : Math.max(0, Math.min(before, s.adHoc<[], number | null>('SELECT max(id) + 1 FROM jobs').pluck().get() ?? 0) - page.scanIds);
  if (floor > 0) {
    clauses.push('jobs.id >= @floor');
    values.floor = floor;
  }
  values.limit = page.limit;
  const rows = s.adHoc<[Bindings], JobRow>(
    `SELECT ${JOB_COLUMNS} FROM ${JOBS_WITH_TARGETS} WHERE ${clauses.join(' AND ')} ORDER BY jobs.id DESC LIMIT @limit`,
  ).all(values);
  const last = rows.at(-1);
  if (rows.length === page.limit && last !== undefined) return { rows, next: last.id };
  if (floor <= 0) return { rows, next: null };
  // Fewer than asked: the window is used up. Go on below it only if some job is there.
  const older = s.adHoc<[number], number>('SELECT 1 FROM jobs WHERE id < ? LIMIT 1').pluck().get(floor);
  return { rows, next: older === undefined ? null : floor };
}

/** See JobStore.countJobs. */
export function countJobs(s: Statements, search: JobSearch, cap: number): number {
  const { clauses, values } = whereOf(search);
  // Counting needs no order, so the state may pick an index here (waiting and running jobs have partial ones).
  const where = clauses.map((c) => c.replace('+jobs.state', 'jobs.state'));
  const join = search.service !== undefined || search.method !== undefined ? 'jobs JOIN targets ON targets.id = jobs.target_id' : 'jobs';
  values.cap = cap;
  return s.adHoc<[Bindings], number>(
    `SELECT count(*) FROM (SELECT 1 FROM ${join}${where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`} LIMIT @cap)`,
  ).pluck().get(values) ?? 0;
}

/** See JobStore.runNow. Inside a write transaction. */
export function runNow(s: Statements, id: number, now: number): boolean {
  // A job parked by its key or held by a pause is made due as well: the claim checks its key and the pause again.
  // One that waits for other jobs stays: it must not run before them. Its job_flow row (migration 0017), if any,
  // is read for run_at first, then cleared.
  const changed = s.adHoc<[{ id: number; now: number }]>(`
    UPDATE jobs
       SET run_at = min(coalesce((SELECT ready_at FROM job_flow WHERE job_id = @id AND (parked = 1 OR held = 1)), run_at), @now)
     WHERE id = @id AND state = ${STATE.waiting} AND coalesce((SELECT waiting_for FROM job_flow WHERE job_id = @id), 0) = 0`,
  ).run({ id, now }).changes;
  if (changed === 1) {
    s.adHoc<[number]>('UPDATE job_flow SET parked = 0, held = 0 WHERE job_id = ? AND (parked = 1 OR held = 1)').run(id);
    return true;
  }
  if (s.selectJob.get(id) === undefined) throw new JobNotFoundError(id);
  return false;
}

/** See JobStore.deleteJob. Inside a write transaction. */
export function deleteJob(s: Statements, id: number): DeleteOutcome {
  const state = s.adHoc<[number], number>('SELECT state FROM jobs WHERE id = ?').pluck().get(id);
  if (state === undefined) throw new JobNotFoundError(id);
  if (state === STATE.waiting || state === STATE.running) return 'active';
  // Without AUTOINCREMENT SQLite hands out max(id) + 1: deleting the newest job would give its id to the next one.
  if (s.maxJobId.get() === id) return 'newest';
  s.adHoc<[number]>('DELETE FROM job_errors WHERE job_id = ?').run(id);
  s.adHoc<[number]>('DELETE FROM job_notes WHERE job_id = ?').run(id);
  // Its links to the jobs it ran after (its own `after`); links naming it as a parent stay with their dependants.
  s.adHoc<[number]>('DELETE FROM job_parents WHERE job_id = ?').run(id);
  s.adHoc<[number]>('DELETE FROM job_flow WHERE job_id = ?').run(id);
  s.adHoc<[number]>('DELETE FROM jobs WHERE id = ?').run(id);
  return 'deleted';
}

const FINISHED_NAME = `CASE jobs.state WHEN ${STATE.succeeded} THEN 'succeeded' WHEN ${STATE.failed} THEN 'failed' ELSE 'cancelled' END`;

/** See JobStore.activity: a rowid range from the newest id down, so the read is bounded by `scanIds`. */
export function activity(s: Statements, since: number, scanIds: number): Activity {
  const newestJobId = s.maxJobId.get() ?? 0;
  const finished = s.adHoc<[{ floor: number; since: number }], FinishedJobActivity>(`
    SELECT jobs.id AS id, targets.service AS service, targets.method AS method, ${FINISHED_NAME} AS state,
           jobs.created_at AS createdAt, jobs.run_at AS runAt, jobs.started_at AS startedAt, jobs.finished_at AS finishedAt,
           jobs.attempts AS attempts
      FROM ${JOBS_WITH_TARGETS}
     WHERE jobs.id > @floor AND jobs.finished_at >= @since AND jobs.state >= ${STATE.succeeded}
     ORDER BY jobs.id`).all({ floor: newestJobId - scanIds, since });
  return { newestJobId, finished };
}

/** See JobStore.attemptFailures. */
export function attemptFailures(s: Statements, afterId: number | null, limit: number): AttemptFailures {
  if (afterId === null) return { lastId: s.adHoc<[], number | null>('SELECT max(id) FROM job_errors').pluck().get() ?? 0, failures: [] };
  const rows = s.adHoc<[{ after: number; limit: number }], { id: number; service: string; method: string; at: number }>(`
    SELECT e.id AS id, targets.service AS service, targets.method AS method, e.at AS at
      FROM job_errors e JOIN jobs ON jobs.id = e.job_id JOIN targets ON targets.id = jobs.target_id
     WHERE e.id > @after ORDER BY e.id LIMIT @limit`).all({ after: afterId, limit });
  return { lastId: rows.at(-1)?.id ?? afterId, failures: rows.map(({ service, method, at }) => ({ service, method, at })) };
}
