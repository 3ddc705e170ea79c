import type pg from 'pg';
import { InvalidArgumentError } from '../../errors.ts';
import { BLOCKED_RUN_AT, parentFailedError, type NewJob, type ParentOutcome } from '../job-store.ts';
import { parentsToWaitFor, resolveParents } from '../parent-refs.ts';
import { archive, flowRow } from './archive-jobs.ts';
import { NOW_MS, parseError, STATE, stateName, type Schema } from './schema.ts';

/*
 * Jobs that wait for other jobs, on PostgreSQL (migration 0003): linking a
 * new job to its parents, reading parents' outcomes for `ctx.parents`, and
 * bringing back dependants when a parent is retried. What happens when a
 * parent ends is done by the migration's trigger.
 */

export interface ParentStatements {
  readonly markActive: string;
  readonly markFinished: string;
  readonly link: string;
  readonly cancelAtAdd: string;
  readonly outcomes: string;
  readonly dependants: string;
  readonly cancelledBecauseOf: string;
  readonly bringBack: string;
  readonly rewaitRunAnyway: string;
  readonly retryParents: string;
  readonly holdRetried: string;
  readonly rewaitRetried: string;
}

export function parentStatements(s: Schema): ParentStatements {
  const cancelledSet = { state: String(STATE.cancelled), finished_at: '$3', result: 'NULL', error: '$4', cancelled_by: '$2' } as const;
  return {
    // Takes each waiting or running parent's row lock: a parent cannot end (and miss this dependant) before the add commits.
    // The parent's job_flow row says it has dependants (migration 0010); its jobs row is locked first and flagged.
    markActive: `
      WITH marked AS (UPDATE ${s.q}.jobs SET flow = true WHERE id = ANY($1::bigint[]) RETURNING id, state, service, method, priority),
      flagged AS (
        INSERT INTO ${s.q}.job_flow (job_id, service, method, priority, has_dependants)
        SELECT id, service, method, priority, true FROM marked
        ON CONFLICT (job_id) DO UPDATE SET has_dependants = true
      )
      SELECT id, state FROM marked`,
    markFinished: `UPDATE ${s.q}.finished_jobs SET has_dependants = true WHERE id = ANY($1::bigint[]) RETURNING id, state`,
    link: `INSERT INTO ${s.q}.job_parents (job_id, position, parent_id) SELECT $1, p.ord - 1, p.id FROM unnest($2::bigint[]) WITH ORDINALITY AS p(id, ord)`,
    cancelAtAdd: `
      WITH moved AS (DELETE FROM ${s.q}.jobs j WHERE id = $1 RETURNING j.*, ${flowRow(s, 'j')})
      ${archive(s, 'moved', cancelledSet)}`,
    outcomes: `
      SELECT p.job_id, p.parent_id AS id, COALESCE(f.service, a.service) AS service, COALESCE(f.method, a.method) AS method,
             COALESCE(f.state, a.state) AS state, f.result, COALESCE(f.error, a.error) AS error
        FROM ${s.q}.job_parents p
        LEFT JOIN ${s.q}.finished_jobs f ON f.id = p.parent_id
        LEFT JOIN ${s.q}.jobs a ON a.id = p.parent_id
       WHERE p.job_id = ANY($1::bigint[])
       ORDER BY p.job_id, p.position`,
    dependants: `SELECT job_id FROM ${s.q}.job_parents WHERE parent_id = $1 ORDER BY job_id`,
    cancelledBecauseOf: `
      WITH RECURSIVE back(id) AS (
        SELECT id FROM ${s.q}.finished_jobs WHERE cancelled_by = $1 AND state = ${STATE.cancelled}
        UNION
        SELECT f.id FROM ${s.q}.finished_jobs f JOIN back b ON f.cancelled_by = b.id WHERE f.state = ${STATE.cancelled}
      ) SELECT id FROM back ORDER BY id`,
    // Waiting again, for every parent that has not succeeded; not if another parent of its has failed for good.
    bringBack: `
      WITH moved AS (
        DELETE FROM ${s.q}.finished_jobs f
         WHERE f.id = $1 AND f.state = ${STATE.cancelled}
           AND NOT EXISTS (SELECT 1 FROM ${s.q}.job_parents p JOIN ${s.q}.finished_jobs q ON q.id = p.parent_id
                            WHERE p.job_id = f.id AND q.state IN (${STATE.failed}, ${STATE.cancelled}))
        RETURNING *
      ), flow AS (
        INSERT INTO ${s.q}.job_flow (job_id, service, method, priority, parents, ready_at, on_parent_failure, has_dependants,
                                     concurrency_key, concurrency_limit, rate_limit, waiting_for)
        SELECT id, service, method, priority, parents, ready_at, on_parent_failure, has_dependants,
               concurrency_key, concurrency_limit, rate_limit,
               (SELECT count(*) FROM ${s.q}.job_parents p
                 WHERE p.job_id = moved.id
                   AND NOT EXISTS (SELECT 1 FROM ${s.q}.finished_jobs q WHERE q.id = p.parent_id AND q.state = ${STATE.succeeded}))
          FROM moved
      )
      INSERT INTO ${s.q}.jobs (id, state, priority, run_at, attempts, max_attempts, timeout_ms, isolated, service, method, params,
                               recurring_id, fire_time, key, tags, created_at, flow)
      SELECT id, ${STATE.waiting}, priority, ${BLOCKED_RUN_AT}, attempts, max_attempts, timeout_ms, isolated, service, method, params,
             recurring_id, fire_time, key, tags, created_at, true
        FROM moved
      RETURNING id`,
    // A failed or cancelled job's parents, if it has any, and whether it runs whatever they do.
    retryParents: `
      SELECT f.on_parent_failure, ARRAY(SELECT parent_id FROM ${s.q}.job_parents WHERE job_id = f.id ORDER BY position) AS parents
        FROM ${s.q}.finished_jobs f WHERE f.id = $1 AND f.parents > 0 AND f.state IN (${STATE.failed}, ${STATE.cancelled})`,
    holdRetried: `UPDATE ${s.q}.jobs SET run_at = ${BLOCKED_RUN_AT} WHERE id = $1`,
    rewaitRetried: `UPDATE ${s.q}.job_flow SET waiting_for = $2, ready_at = CASE WHEN $2::integer > 0 THEN ${NOW_MS} ELSE ready_at END WHERE job_id = $1`,
    rewaitRunAnyway: `
      WITH picked AS MATERIALIZED (
        SELECT j.id FROM ${s.q}.jobs j JOIN ${s.q}.job_flow f ON f.job_id = j.id
         WHERE j.id IN (SELECT job_id FROM ${s.q}.job_parents WHERE parent_id = $1) AND j.state = ${STATE.waiting} AND f.on_parent_failure
         ORDER BY j.id FOR UPDATE OF j
      ), flow AS (
        UPDATE ${s.q}.job_flow f SET waiting_for = f.waiting_for + 1 FROM picked p WHERE f.job_id = p.id
      )
      UPDATE ${s.q}.jobs j SET run_at = ${BLOCKED_RUN_AT} FROM picked p WHERE j.id = p.id`,
  };
}

/** What an add learnt of its job's parents before inserting it ({@link readParents}). */
export interface ParentsAtAdd {
  readonly ids: readonly number[];
  /** How many of them are waiting or running: the job is inserted held, at never-due, while this is above 0. */
  readonly waitingFor: number;
  readonly runAnyway: boolean;
  /** One that failed or was cancelled (unless the job runs anyway): the job is cancelled as soon as it is in. */
  readonly failed: { id: number; state: number } | undefined;
}

/**
 * Inside the add's transaction, before its job is inserted: as the SQLite
 * store's `linkParents` (see there), on the two job tables. Marks and locks
 * the parents ({@link markParents}) and counts those the job waits for, so
 * that the job goes into `jobs` as it will stay: a row inserted due and then
 * held would leave a dead entry at the front of the claim's index.
 * @throws InvalidArgumentError naming a parent that does not exist here.
 */
export async function readParents(client: pg.ClientBase, sql: ParentStatements, job: NewJob, database: string, earlier: readonly number[]): Promise<ParentsAtAdd> {
  const ids = resolveParents(job, database, earlier);
  const states = await markParents(client, sql, ids);
  let waitingFor = 0;
  let failed: { id: number; state: number } | undefined;
  const runAnyway = job.onParentFailure === 'run';
  for (const parent of ids) {
    const state = states.get(parent);
    if (state === undefined) throw new InvalidArgumentError(`after: no job with id ${parent} in this database (it never existed, or was pruned)`);
    if (state === STATE.waiting || state === STATE.running) waitingFor++;
    else if (state !== STATE.succeeded && !runAnyway) failed ??= { id: parent, state };
  }
  return { ids, waitingFor, runAnyway, failed };
}

/** Inside the add's transaction, once job `id` is inserted with what {@link readParents} found: its links, and its end if a parent failed. */
export async function linkParents(client: pg.ClientBase, sql: ParentStatements, id: number, parents: ParentsAtAdd, createdAt: number): Promise<void> {
  await client.query({ name: 'parents-link', text: sql.link, values: [id, parents.ids] });
  if (parents.failed !== undefined) {
    const error = JSON.stringify(parentFailedError(parents.failed.id, parents.failed.state === STATE.failed ? 'failed' : 'cancelled'));
    await client.query({ name: 'parents-cancel-at-add', text: sql.cancelAtAdd, values: [id, parents.failed.id, createdAt, error] });
  }
}

/**
 * The states of `parents`, each marked as having dependants: the waiting or
 * running ones with their jobs rows locked (none can end, and miss the
 * dependant, before the transaction commits), then the finished ones. A
 * parent in neither table (pruned, or never there) is missing from the map.
 */
async function markParents(client: pg.ClientBase, sql: ParentStatements, parents: readonly number[]): Promise<Map<number, number>> {
  const states = new Map<number, number>();
  for (const row of (await client.query<{ id: number; state: number }>({ name: 'parents-active', text: sql.markActive, values: [parents] })).rows) states.set(row.id, row.state);
  const rest = parents.filter((parent) => !states.has(parent));
  if (rest.length > 0) {
    for (const row of (await client.query<{ id: number; state: number }>({ name: 'parents-finished', text: sql.markFinished, values: [rest] })).rows) states.set(row.id, row.state);
  }
  return states;
}

/**
 * Inside a retry's transaction, before failed or cancelled job `id` is
 * retried: how many of its parents it will wait for ({@link parentsToWaitFor}),
 * or undefined if it runs after none (or is not failed or cancelled). Its
 * active parents' rows are locked, as an add's are ({@link markParents}).
 * @throws InvalidArgumentError if one of them failed or was cancelled.
 */
export async function parentsForRetry(client: pg.ClientBase, sql: ParentStatements, id: number): Promise<number | undefined> {
  const { rows: [found] } = await client.query<{ on_parent_failure: boolean; parents: number[] }>({ name: 'parents-of-retried', text: sql.retryParents, values: [id] });
  if (found === undefined) return undefined;
  const states = await markParents(client, sql, found.parents);
  const parents = found.parents.map((parent) => {
    const state = states.get(parent);
    return { id: parent, state: state === undefined ? ('pruned' as const) : stateName(state) };
  });
  return parentsToWaitFor(id, parents, found.on_parent_failure);
}

/** Inside the retry's transaction, once job `id` is waiting again: it waits for `waitFor` parents ({@link parentsForRetry}). */
export async function rewaitRetried(client: pg.ClientBase, sql: ParentStatements, id: number, waitFor: number): Promise<void> {
  // The jobs row first, then its job_flow row, as everywhere.
  if (waitFor > 0) await client.query({ name: 'parents-hold-retried', text: sql.holdRetried, values: [id] });
  await client.query({ name: 'parents-rewait-retried', text: sql.rewaitRetried, values: [id, waitFor] });
}

/** Inside a retry's transaction, once job `id` is waiting again: its dependants wait for it again. */
export async function bringBackDependants(client: pg.ClientBase, sql: ParentStatements, id: number): Promise<void> {
  await client.query({ name: 'parents-rewait', text: sql.rewaitRunAnyway, values: [id] });
  const { rows } = await client.query<{ id: number }>({ name: 'parents-cancelled-because', text: sql.cancelledBecauseOf, values: [id] });
  // In id order: a dependant was added after its parents, so each comes back after the parent it waits for.
  for (const row of rows) await client.query({ name: 'parents-bring-back', text: sql.bringBack, values: [row.id] });
}

interface OutcomeRow {
  job_id: number;
  id: number;
  service: string | null;
  method: string | null;
  state: number | null;
  result: string | null;
  error: string | null;
}

/** How the parents of each of `ids` ended (a parent still running or waiting, rare, shows as such). */
export async function parentOutcomes(client: pg.ClientBase, sql: ParentStatements, ids: readonly number[]): Promise<Map<number, ParentOutcome[]>> {
  const { rows } = await client.query<OutcomeRow>({ name: 'parents-outcomes', text: sql.outcomes, values: [ids] });
  const byJob = new Map<number, ParentOutcome[]>();
  for (const row of rows) {
    let list = byJob.get(row.job_id);
    if (list === undefined) byJob.set(row.job_id, (list = []));
    list.push({
      id: row.id,
      service: row.service ?? '',
      method: row.method ?? '',
      state: row.state === null ? 'pruned' : stateName(row.state),
      result: row.state === STATE.succeeded ? row.result : null,
      error: row.state === STATE.succeeded ? null : parseError(row.error),
    });
  }
  return byJob;
}

