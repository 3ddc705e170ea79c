import type { Database, Statement } from 'better-sqlite3';
import { InvalidArgumentError } from '../../errors.ts';
import { resolveParents } from '../parent-refs.ts';
import { BLOCKED_RUN_AT, parentFailedError, type NewJob, type ParentOutcome } from '../job-store.ts';
import { STATE } from './queries.ts';

/*
 * Jobs that wait for other jobs, on SQLite (migration 0011): linking a new
 * job to its parents, reading parents' outcomes for `ctx.parents`, and
 * bringing back dependants when a parent is retried. What happens when a
 * parent ends is done by the migration's triggers.
 */

const { waiting: WAITING, succeeded: SUCCEEDED, failed: FAILED, cancelled: CANCELLED } = STATE;

/** The statements of this file, prepared on a connection's first use of them. */
export class ParentStatements {
  readonly parentState: Statement<[number], number>;
  readonly insertLink: Statement<[number, number, number]>;
  readonly markHasDependants: Statement<[number]>;
  readonly setWaiting: Statement<{ id: number; parents: number; waitingFor: number; onFailure: number; blocked: number }>;
  readonly cancelAtAdd: Statement<{ id: number; parent: number; now: number; error: string }>;
  readonly parentOutcomes: Statement<[string], ParentRow>;
  readonly parentsOf: Statement<[number], number>;
  readonly dependantsOf: Statement<[number], number>;
  readonly cancelledBecauseOf: Statement<[number], number>;
  readonly bringBack: Statement<{ id: number; blocked: number }>;
  readonly rewaitRunAnyway: Statement<{ id: number; blocked: number }>;

  constructor(db: Database) {
    this.parentState = db.prepare<[number], number>('SELECT state FROM jobs WHERE id = ?').pluck();
    this.insertLink = db.prepare<[number, number, number]>('INSERT INTO job_parents (job_id, position, parent_id) VALUES (?, ?, ?)');
    this.markHasDependants = db.prepare<[number]>('UPDATE jobs SET has_dependants = 1 WHERE id = ? AND has_dependants = 0');
    this.setWaiting = db.prepare(`
      UPDATE jobs SET parents = @parents, waiting_for = @waitingFor, on_parent_failure = @onFailure,
             ready_at = run_at,
             run_at = CASE WHEN @waitingFor > 0 THEN @blocked ELSE run_at END
       WHERE id = @id`);
    this.cancelAtAdd = db.prepare(`
      UPDATE jobs SET state = ${CANCELLED}, finished_at = @now, cancelled_by = @parent, error = @error WHERE id = @id`);
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
        SELECT id FROM jobs WHERE cancelled_by = ? AND state = ${CANCELLED}
        UNION
        SELECT j.id FROM jobs j JOIN back b ON j.cancelled_by = b.id WHERE j.state = ${CANCELLED}
      ) SELECT id FROM back ORDER BY id`).pluck();
    // Waiting again, for every parent that has not succeeded; not if another parent of its has failed for good.
    this.bringBack = db.prepare(`
      UPDATE jobs
         SET state = ${WAITING}, cancelled_by = NULL, finished_at = NULL, error = NULL, run_at = @blocked,
             waiting_for = (SELECT count(*) FROM job_parents p JOIN jobs q ON q.id = p.parent_id
                             WHERE p.job_id = jobs.id AND q.state <> ${SUCCEEDED})
       WHERE id = @id AND state = ${CANCELLED}
         AND NOT EXISTS (SELECT 1 FROM job_parents p JOIN jobs q ON q.id = p.parent_id
                          WHERE p.job_id = jobs.id AND q.state IN (${FAILED}, ${CANCELLED}))`);
    // A dependant that runs whatever its parent does counted the parent's failure as an end; the retried parent has not ended.
    this.rewaitRunAnyway = db.prepare(`
      UPDATE jobs SET waiting_for = waiting_for + 1, run_at = @blocked
       WHERE id IN (SELECT job_id FROM job_parents WHERE parent_id = @id) AND state = ${WAITING} AND on_parent_failure = 1`);
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
 * Inside the add's transaction, right after job `id` was inserted: resolves
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
    if (state === WAITING || state === STATE.running) waitingFor++;
    else if (state !== SUCCEEDED && !runAnyway) failedParent ??= { id: parent, state };
  });
  p.setWaiting.run({ id, parents: parents.length, waitingFor, onFailure: runAnyway ? 1 : 0, blocked: BLOCKED_RUN_AT });
  if (failedParent !== undefined) {
    const error = JSON.stringify(parentFailedError(failedParent.id, failedParent.state === FAILED ? 'failed' : 'cancelled'));
    p.cancelAtAdd.run({ id, parent: failedParent.id, now: job.createdAt, error });
  }
}

/** Inside a retry's transaction, once job `id` is waiting again: its dependants wait for it again. */
export function bringBackDependants(p: ParentStatements, id: number): number[] {
  p.rewaitRunAnyway.run({ id, blocked: BLOCKED_RUN_AT });
  const back: number[] = [];
  for (const dependant of p.cancelledBecauseOf.all(id)) {
    if (p.bringBack.run({ id: dependant, blocked: BLOCKED_RUN_AT }).changes === 1) back.push(dependant);
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
