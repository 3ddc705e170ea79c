import type { Database, Statement } from 'better-sqlite3';
import { InvalidArgumentError } from '../../errors.ts';
import { parentsToWaitFor, resolveParents } from '../parent-refs.ts';
import { BLOCKED_RUN_AT, parentFailedError, type NewJob, type ParentOutcome } from '../job-store.ts';
import { STATE, STATE_NAMES } from './queries.ts';

/*
 * Jobs that wait for other jobs, on SQLite (migration 0011): linking a new
 * job to its parents, reading parents' outcomes for `ctx.parents`, and
 * bringing back dependants when a parent is retried. What happens when a
 * parent ends is done by the triggers (flow-triggers.ts). The counts, the
 * run time asked for and who cancelled a job are in job_flow (migration
 * 0017): a job with parents has a row from its add, and a parent gets one
 * (and its flag) when first named. A change to both tables is two
 * statements, each picking the same jobs.
 */

const { waiting: WAITING, succeeded: SUCCEEDED, failed: FAILED, cancelled: CANCELLED } = STATE;

/** The statements of this file, prepared on a connection's first use of them. */
export class ParentStatements {
  readonly parentState: Statement<[number], number>;
  readonly insertLink: Statement<[number, number, number]>;
  readonly markHasDependants: Statement<[number]>;
  readonly flagParent: Statement<[number]>;
  readonly setWaiting: Statement<{ id: number; parents: number; waitingFor: number; onFailure: number }>;
  readonly holdWaiting: Statement<{ id: number; blocked: number }>;
  readonly setCancelledBy: Statement<{ id: number; parent: number }>;
  readonly cancelAtAdd: Statement<{ id: number; now: number; error: string }>;
  readonly parentOutcomes: Statement<[string], ParentRow>;
  readonly parentsOf: Statement<[number], number>;
  readonly dependantsOf: Statement<[number], number>;
  readonly cancelledBecauseOf: Statement<[number], number>;
  readonly bringBack: Statement<{ id: number; blocked: number }>;
  readonly recountWaiting: Statement<{ id: number }>;
  readonly holdRunAnyway: Statement<{ id: number; blocked: number }>;
  readonly rewaitRunAnyway: Statement<{ id: number }>;
  readonly runsAnyway: Statement<[number], number>;
  readonly rewaitRetried: Statement<{ id: number; waitFor: number; now: number }>;
  readonly holdRetried: Statement<{ id: number; blocked: number }>;

  constructor(db: Database) {
    this.parentState = db.prepare<[number], number>('SELECT state FROM jobs WHERE id = ?').pluck();
    this.insertLink = db.prepare<[number, number, number]>('INSERT INTO job_parents (job_id, position, parent_id) VALUES (?, ?, ?)');
    // A parent of any kind: a plain one gets its row here, and its flag (so the triggers see it end) next.
    this.markHasDependants = db.prepare<[number]>(`
      INSERT INTO job_flow (job_id, target_id, priority, has_dependants)
      SELECT id, target_id, priority, 1 FROM jobs WHERE id = ?
      ON CONFLICT (job_id) DO UPDATE SET has_dependants = 1 WHERE has_dependants = 0`);
    this.flagParent = db.prepare<[number]>('UPDATE jobs SET flow = 1 WHERE id = ? AND flow = 0');
    this.setWaiting = db.prepare(`
      UPDATE job_flow SET parents = @parents, waiting_for = @waitingFor, on_parent_failure = @onFailure,
             ready_at = (SELECT run_at FROM jobs WHERE jobs.id = @id)
       WHERE job_id = @id`);
    this.holdWaiting = db.prepare('UPDATE jobs SET run_at = @blocked WHERE id = @id');
    this.setCancelledBy = db.prepare('UPDATE job_flow SET cancelled_by = @parent WHERE job_id = @id');
    this.cancelAtAdd = db.prepare(`UPDATE jobs SET state = ${CANCELLED}, finished_at = @now, error = @error WHERE id = @id`);
    this.parentOutcomes = db.prepare<[string], ParentRow>(`
      SELECT p.job_id AS jobId, p.parent_id AS id, t.service AS service, t.method AS method, j.state AS state, j.result AS result, j.error AS error
        FROM job_parents p
        LEFT JOIN jobs j ON j.id = p.parent_id
        LEFT JOIN targets t ON t.id = j.target_id
       WHERE p.job_id IN (SELECT value FROM json_each(?))
       ORDER BY p.job_id, p.position`);
    this.parentsOf = db.prepare<[number], number>('SELECT parent_id FROM job_parents WHERE job_id = ? ORDER BY position').pluck();
    this.dependantsOf = db.prepare<[number], number>('SELECT job_id FROM job_parents WHERE parent_id = ? ORDER BY job_id').pluck();
    // The dependants a parent's failure cancelled, and theirs in turn: what its retry brings back.
    this.cancelledBecauseOf = db.prepare<[number], number>(`
      WITH RECURSIVE back(id) AS (
        SELECT f.job_id FROM job_flow f CROSS JOIN jobs j ON j.id = f.job_id WHERE f.cancelled_by = ? AND j.state = ${CANCELLED}
        UNION
        SELECT f.job_id FROM back b CROSS JOIN job_flow f ON f.cancelled_by = b.id CROSS JOIN jobs j ON j.id = f.job_id
         WHERE j.state = ${CANCELLED}
      ) SELECT id FROM back ORDER BY id`).pluck();
    // Waiting again, for every parent that has not succeeded (recountWaiting, once this changed it); not if another
    // parent of its has failed for good.
    this.bringBack = db.prepare(`
      UPDATE jobs
         SET state = ${WAITING}, finished_at = NULL, error = NULL, run_at = @blocked
       WHERE id = @id AND state = ${CANCELLED}
         AND NOT EXISTS (SELECT 1 FROM job_parents p JOIN jobs q ON q.id = p.parent_id
                          WHERE p.job_id = jobs.id AND q.state IN (${FAILED}, ${CANCELLED}))`);
    this.recountWaiting = db.prepare(`
      UPDATE job_flow
         SET cancelled_by = NULL,
             waiting_for = (SELECT count(*) FROM job_parents p JOIN jobs q ON q.id = p.parent_id
                             WHERE p.job_id = job_flow.job_id AND q.state <> ${SUCCEEDED})
       WHERE job_id = @id`);
    // A dependant that runs whatever its parent does counted the parent's failure as an end; the retried parent has not ended.
    const runAnyway = `SELECT f.job_id FROM job_parents p CROSS JOIN job_flow f ON f.job_id = p.job_id
                        WHERE p.parent_id = @id AND f.on_parent_failure = 1`;
    this.holdRunAnyway = db.prepare(`UPDATE jobs SET run_at = @blocked WHERE id IN (${runAnyway}) AND state = ${WAITING}`);
    // A failed or cancelled job's flag, if it runs after others: whether it runs whatever they do.
    this.runsAnyway = db.prepare<[number], number>(`
      SELECT f.on_parent_failure FROM job_flow f CROSS JOIN jobs j ON j.id = f.job_id
       WHERE f.job_id = ? AND f.parents > 0 AND j.state IN (${FAILED}, ${CANCELLED})`).pluck();
    this.rewaitRetried = db.prepare(`
      UPDATE job_flow SET waiting_for = @waitFor, cancelled_by = NULL, ready_at = CASE WHEN @waitFor > 0 THEN @now ELSE ready_at END
       WHERE job_id = @id`);
    this.holdRetried = db.prepare(`UPDATE jobs SET run_at = @blocked WHERE id = @id`);
    this.rewaitRunAnyway = db.prepare(`
      UPDATE job_flow SET waiting_for = waiting_for + 1
       WHERE job_id IN (${runAnyway}) AND (SELECT state FROM jobs WHERE jobs.id = job_flow.job_id) = ${WAITING}`);
  }
}

/** A row of {@link ParentStatements.parentOutcomes}; the parent's columns are null if it was pruned. */
export interface ParentRow {
  readonly jobId: number;
  readonly id: number;
  readonly service: string | null;
  readonly method: string | null;
  readonly state: number | null;
  readonly result: string | null;
  readonly error: string | null;
}

/**
 * Inside the add's transaction, right after job `id` was inserted with its job_flow row: resolves
 * its `after` (ids of this database, or earlier entries of the same call,
 * whose ids are `earlier`), links it to each parent, and holds it until they
 * end. A parent that has already failed or been cancelled cancels it at once
 * (unless it runs anyway), as it would have had it been waiting.
 * @throws InvalidArgumentError naming a parent that does not exist here, a
 *   later entry, or one from another database. Nothing of the call is stored.
 */
export function linkParents(p: ParentStatements, id: number, job: NewJob, database: string, earlier: readonly number[]): void {
  const parents = resolveParents(job, database, earlier);
  let waitingFor = 0;
  let failedParent: { id: number; state: number } | undefined;
  const runAnyway = job.onParentFailure === 'run';
  parents.forEach((parent, position) => {
    const state = p.parentState.get(parent);
    if (state === undefined) throw new InvalidArgumentError(`after: no job with id ${parent} in this database (it never existed, or was pruned)`);
    p.insertLink.run(id, position, parent);
    p.markHasDependants.run(parent);
    p.flagParent.run(parent);
    if (state === WAITING || state === STATE.running) waitingFor++;
    else if (state !== SUCCEEDED && !runAnyway) failedParent ??= { id: parent, state };
  });
  p.setWaiting.run({ id, parents: parents.length, waitingFor, onFailure: runAnyway ? 1 : 0 });
  if (waitingFor > 0) p.holdWaiting.run({ id, blocked: BLOCKED_RUN_AT });
  if (failedParent !== undefined) {
    const error = JSON.stringify(parentFailedError(failedParent.id, failedParent.state === FAILED ? 'failed' : 'cancelled'));
    p.setCancelledBy.run({ id, parent: failedParent.id });
    p.cancelAtAdd.run({ id, now: job.createdAt, error });
  }
}

/**
 * Inside a retry's transaction, before failed or cancelled job `id` is
 * retried: how many of its parents it will wait for ({@link parentsToWaitFor}),
 * or undefined if it runs after none (or is not failed or cancelled).
 * @throws InvalidArgumentError if one of them failed or was cancelled.
 */
export function parentsForRetry(p: ParentStatements, id: number): number | undefined {
  const runAnyway = p.runsAnyway.get(id);
  if (runAnyway === undefined) return undefined;
  const parents = p.parentOutcomes.all(JSON.stringify([id])).map((row) => ({ id: row.id, state: row.state === null ? ('pruned' as const) : STATE_NAMES[row.state]! }));
  return parentsToWaitFor(id, parents, runAnyway === 1);
}

/** Inside the retry's transaction, once job `id` is waiting again: it waits for `waitFor` parents ({@link parentsForRetry}). */
export function rewaitRetried(p: ParentStatements, id: number, waitFor: number, now: number): void {
  // The jobs row first, then its job_flow row, as everywhere.
  if (waitFor > 0) p.holdRetried.run({ id, blocked: BLOCKED_RUN_AT });
  p.rewaitRetried.run({ id, waitFor, now });
}

/** Inside a retry's transaction, once job `id` is waiting again: its dependants wait for it again. */
export function bringBackDependants(p: ParentStatements, id: number): number[] {
  p.holdRunAnyway.run({ id, blocked: BLOCKED_RUN_AT });
  p.rewaitRunAnyway.run({ id });
  const back: number[] = [];
  for (const dependant of p.cancelledBecauseOf.all(id)) {
    if (p.bringBack.run({ id: dependant, blocked: BLOCKED_RUN_AT }).changes === 0) continue;
    p.recountWaiting.run({ id: dependant });
    back.push(dependant);
  }
  return back;
}

/** Rows of {@link ParentStatements.parentOutcomes} as outcomes per job. */
export function toParentOutcomes(rows: readonly ParentRow[], stateName: (state: number) => ParentOutcome['state']): Map<number, ParentOutcome[]> {
  const byJob = new Map<number, ParentOutcome[]>();
  for (const row of rows) {
    let list = byJob.get(row.jobId);
    if (list === undefined) byJob.set(row.jobId, (list = []));
    list.push({
      id: row.id,
      service: row.service ?? '',
      method: row.method ?? '',
      state: row.state === null ? 'pruned' : stateName(row.state),
      result: row.state === SUCCEEDED ? row.result : null,
      error: row.error === null || row.state === SUCCEEDED ? null : JSON.parse(row.error) as ParentOutcome['error'],
    });
  }
  return byJob;
}
