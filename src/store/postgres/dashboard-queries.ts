import type pg from 'pg';
import { JobNotFoundError } from '../../errors.ts';
import type { Activity, AttemptFailures, ConcurrencyKeyUse, DeleteOutcome, FinishedJobActivity, JobPage, JobPageRequest, JobSearch, JobState, RateLimitUse } from '../job-store.ts';
import { databaseId, jobColumns, jobsFrom, NOW_MS, STATE, stateName, toJobRecord, type JobRow, type Schema } from './schema.ts';

/*
 * The reads and single-job actions of the dashboard and the HTTP API. A
 * search reads both job tables by primary key, newest first, each with its
 * own LIMIT, and merges them: a page costs the rows it reads, bounded by
 * `scanIds` when a filter matches few. The SQL is built from the filters
 * given (values always bound).
 */

const ACTIVE: readonly JobState[] = ['waiting', 'running'];

/** The WHERE clauses of `search` on job table alias `j`, appending their values to `values`. */
function whereOf(search: JobSearch, values: unknown[]): string[] {
  const bind = (value: unknown): string => `$${values.push(value)}`;
  const clauses: string[] = [];
  if (search.states !== undefined) clauses.push(`j.state = ANY (${bind(search.states.map((s) => STATE[s]))}::smallint[])`);
  if (search.service !== undefined) clauses.push(`j.service = ${bind(search.service)}`);
  if (search.method !== undefined) clauses.push(`j.method = ${bind(search.method)}`);
  if (search.tag !== undefined) clauses.push(`${bind(search.tag)}::text = ANY (j.tags)`);
  if (search.key !== undefined) clauses.push(`j.key = ${bind(search.key)}`);
  if (search.text !== undefined) {
    // strpos, not LIKE: no wildcard in the user's text to escape.
    const text = bind(search.text.toLowerCase());
    clauses.push(`(strpos(lower(j.params), ${text}) > 0 OR strpos(lower(coalesce(j.error, '')), ${text}) > 0)`);
  }
  if (search.recurringId !== undefined) clauses.push(`j.recurring_id = ${bind(search.recurringId)}`);
  if (search.createdFrom !== undefined) clauses.push(`j.created_at >= ${bind(search.createdFrom)}`);
  if (search.createdBefore !== undefined) clauses.push(`j.created_at < ${bind(search.createdBefore)}`);
  return clauses;
}

/** The job tables a search can find anything in: a state filter of finished states only skips the hot table, and the reverse. */
function tablesFor(search: JobSearch): ('jobs' | 'finished_jobs')[] {
  const states = search.states;
  if (states === undefined) return ['jobs', 'finished_jobs'];
  const tables: ('jobs' | 'finished_jobs')[] = [];
  if (states.some((s) => ACTIVE.includes(s))) tables.push('jobs');
  if (states.some((s) => !ACTIVE.includes(s))) tables.push('finished_jobs');
  return tables;
}

/** The largest id handed out so far, 0 before the first. */
const NEWEST_ID = (s: Schema): string => `(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM ${s.q}.job_ids)`;

/** See JobStore.searchJobs. */
export async function searchJobs(client: pg.ClientBase, s: Schema, search: JobSearch, page: JobPageRequest): Promise<JobPage> {
  const tables = tablesFor(search);
  const before = page.beforeId ?? Number.MAX_SAFE_INTEGER;
  let floor = 0;
  if (page.scanIds !== undefined) {
    const { rows: [newest] } = await client.query<{ id: number }>(`SELECT ${NEWEST_ID(s)} AS id`);
    floor = Math.max(0, Math.min(before, (newest?.id ?? 0) + 1) - page.scanIds);
  }
  const values: unknown[] = [before, floor, page.limit];
  const clauses = ['j.id < $1', 'j.id >= $2', ...whereOf(search, values)].join(' AND ');
  const parts = tables.map((table) => `(SELECT ${jobColumns(s, table)} FROM ${jobsFrom(s, table)} WHERE ${clauses} ORDER BY j.id DESC LIMIT $3)`);
  const database = (await client.query<{ database: string }>(`SELECT ${databaseId(s)} AS database`)).rows[0]?.database ?? '';
  const rows = parts.length === 0
    ? []
    : (await client.query<JobRow>(`SELECT r.* FROM (${parts.join(' UNION ALL ')}) r ORDER BY r.id DESC LIMIT $3`, values)).rows;
  const jobs = rows.map((row) => toJobRecord(row, database));
  const last = jobs.at(-1);
  if (jobs.length === page.limit && last !== undefined) return { jobs, next: last.id };
  if (floor <= 0) return { jobs, next: null };
  const { rowCount } = await client.query(
    `(SELECT 1 FROM ${s.q}.jobs WHERE id < $1 LIMIT 1) UNION ALL (SELECT 1 FROM ${s.q}.finished_jobs WHERE id < $1 LIMIT 1)`, [floor],
  );
  return { jobs, next: rowCount === 0 ? null : floor };
}

/** See JobStore.countJobs. Each table's read stops at the cap. */
export async function countJobs(client: pg.ClientBase, s: Schema, search: JobSearch, cap: number): Promise<number> {
  const values: unknown[] = [cap];
  const where = whereOf(search, values);
  const parts = tablesFor(search).map((table) => `(SELECT 1 FROM ${s.q}.${table} j${where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`} LIMIT $1)`);
  if (parts.length === 0) return 0;
  const { rows: [row] } = await client.query<{ n: number }>(`SELECT count(*) AS n FROM (${parts.join(' UNION ALL ')}) c`, values);
  return Math.min(cap, row?.n ?? 0);
}

/** See JobStore.runNow: due now by the server's clock; one already due keeps its place. */
export async function runNow(client: pg.ClientBase, s: Schema, id: number): Promise<boolean> {
  // As on SQLite: parked or held jobs are made due (the claim checks again); one waiting for other jobs stays.
  // The jobs row first, then its job_flow row (the order of every statement that changes both).
  const { rowCount } = await client.query(`
    WITH job AS MATERIALIZED (
      SELECT j.id, j.run_at, fl.parked OR fl.held AS held_back, fl.ready_at
        FROM ${s.q}.jobs j LEFT JOIN ${s.q}.job_flow fl ON fl.job_id = j.id
       WHERE j.id = $1 AND j.state = ${STATE.waiting} AND COALESCE(fl.waiting_for, 0) = 0
         FOR UPDATE OF j
    ), flow AS (
      UPDATE ${s.q}.job_flow f SET parked = false, held = false FROM job WHERE f.job_id = job.id
    )
    UPDATE ${s.q}.jobs j SET run_at = LEAST(CASE WHEN job.held_back THEN job.ready_at ELSE job.run_at END, ${NOW_MS})
      FROM job WHERE j.id = job.id`, [id]);
  if (rowCount === 1) return true;
  await assertExists(client, s, id);
  return false;
}

/** See JobStore.deleteJob. Inside a transaction. Ids come from a sequence, so the newest job may go too. */
export async function deleteJob(client: pg.ClientBase, s: Schema, id: number): Promise<DeleteOutcome> {
  const { rowCount } = await client.query(`DELETE FROM ${s.q}.finished_jobs WHERE id = $1`, [id]);
  if (rowCount === 1) {
    await client.query(`DELETE FROM ${s.q}.job_errors WHERE job_id = $1`, [id]);
    await client.query(`DELETE FROM ${s.q}.job_notes WHERE job_id = $1`, [id]);
    // Its links to the jobs it ran after (its own `after`); links naming it as a parent stay with their dependants.
    await client.query(`DELETE FROM ${s.q}.job_parents WHERE job_id = $1`, [id]);
    return 'deleted';
  }
  await assertExists(client, s, id);
  return 'active';
}

async function assertExists(client: pg.ClientBase, s: Schema, id: number): Promise<void> {
  const { rowCount } = await client.query(`SELECT 1 FROM ${s.q}.jobs WHERE id = $1 UNION ALL SELECT 1 FROM ${s.q}.finished_jobs WHERE id = $1`, [id]);
  if (rowCount === 0) throw new JobNotFoundError(id);
}

/** See JobStore.activity: a primary-key range of finished_jobs from the newest id down. */
export async function activity(client: pg.ClientBase, s: Schema, since: number, scanIds: number): Promise<Activity> {
  const { rows } = await client.query<Omit<FinishedJobActivity, 'state'> & { state: number; newest: number }>(`
    WITH n AS (SELECT ${NEWEST_ID(s)} AS newest)
    SELECT n.newest, f.id, f.service, f.method, f.state, f.created_at AS "createdAt", f.run_at AS "runAt",
           f.started_at AS "startedAt", f.finished_at AS "finishedAt", f.attempts
      FROM n LEFT JOIN LATERAL (
        SELECT * FROM ${s.q}.finished_jobs WHERE id > n.newest - $2 AND finished_at >= $1 ORDER BY id
      ) f ON true`, [since, scanIds]);
  const finished = rows
    .filter((row) => row.id !== null)
    .map(({ newest: _newest, state, ...rest }) => ({ ...rest, state: stateName(state) as FinishedJobActivity['state'] }));
  return { newestJobId: rows[0]?.newest ?? 0, finished };
}

/** See JobStore.attemptFailures. */
export async function attemptFailures(client: pg.ClientBase, s: Schema, afterId: number | null, limit: number): Promise<AttemptFailures> {
  if (afterId === null) {
    const { rows: [row] } = await client.query<{ id: number | null }>(`SELECT max(id) AS id FROM ${s.q}.job_errors`);
    return { lastId: row?.id ?? 0, failures: [] };
  }
  const { rows } = await client.query<{ id: number; service: string; method: string; at: number }>(`
    SELECT e.id, t.service, t.method, e.at FROM ${s.q}.job_errors e
      JOIN LATERAL (SELECT service, method FROM ${s.q}.jobs WHERE id = e.job_id
                    UNION ALL SELECT service, method FROM ${s.q}.finished_jobs WHERE id = e.job_id LIMIT 1) t ON true
     WHERE e.id > $1 ORDER BY e.id LIMIT $2`, [afterId, limit]);
  return { lastId: rows.at(-1)?.id ?? afterId, failures: rows.map(({ service, method, at }) => ({ service, method, at })) };
}

/**
 * See JobStore.concurrencyKeys: keys running something (their counter rows)
 * and parked jobs, counted on the index the release uses (a job's job_flow
 * row goes when it finishes, so every parked row is waiting). The limit is the next one out's.
 */
export async function concurrencyKeys(client: pg.ClientBase, s: Schema, limit: number): Promise<ConcurrencyKeyUse[]> {
  const { rows } = await client.query<ConcurrencyKeyUse>(`
    SELECT key, sum(running)::integer AS running, sum(parked)::integer AS parked,
           (SELECT f.concurrency_limit FROM ${s.q}.job_flow f WHERE f.parked AND f.concurrency_key = u.key
             ORDER BY f.priority DESC, f.ready_at, f.job_id LIMIT 1) AS "limit"
      FROM (SELECT key, running, 0 AS parked FROM ${s.q}.concurrency_keys WHERE running > 0
            UNION ALL
            SELECT concurrency_key, 0, count(*) FROM ${s.q}.job_flow WHERE parked GROUP BY concurrency_key) u
     GROUP BY key ORDER BY parked DESC, running DESC, key LIMIT $1`, [limit]);
  return rows;
}

/**
 * See JobStore.rateLimitUse: each name's starts in its window ending at the
 * server's clock (as the claim judges it), from the log kept in its row
 * (sorted here: entries older than the window stay until a claim under the
 * name rewrites it). The start that has to leave for another to happen is
 * the limit-th newest.
 */
export async function rateLimitUse(client: pg.ClientBase, s: Schema): Promise<RateLimitUse[]> {
  const { rows } = await client.query<RateLimitUse>({
    name: 'rate-limit-use',
    text: `
      SELECT l.name, l.max_starts AS "limit", l.per_ms AS "perMs", cardinality(w.recent) AS "recentStarts",
             CASE WHEN cardinality(w.recent) >= l.max_starts THEN w.recent[cardinality(w.recent) - l.max_starts + 1] + l.per_ms END AS "freeAt"
        FROM ${s.q}.rate_limits l
       CROSS JOIN LATERAL (
         SELECT ARRAY(SELECT t FROM unnest(l.starts) t WHERE t > w.now - l.per_ms AND t <= w.now ORDER BY t) AS recent
           FROM (SELECT ${NOW_MS} AS now) w
       ) w
       ORDER BY l.name`,
  });
  return rows;
}
