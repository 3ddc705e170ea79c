import type { Database, Statement } from 'better-sqlite3';
import { BLOCKED_RUN_AT, type NewJob } from '../job-store.ts';

/*
 * Debounce on SQLite (migration 0013): an add that finds a waiting job with
 * its debounce key updates that job. The key and its bound are in the job's
 * job_flow row (migration 0017), set by its add (job-flow.ts).
 */

/** The waiting job with a debounce key: its id, its bound, and its run_at (BLOCKED_RUN_AT while held back). */
interface Debounced {
  readonly id: number;
  readonly untilAt: number | null;
  readonly runAt: number;
}

export class DebounceStatements {
  readonly find: Statement<{ targetId: number; key: string }, Debounced>;
  readonly update: Statement<{ id: number; params: string; runAt: number; blocked: number }>;
  readonly moveReadyAt: Statement<{ id: number; runAt: number }>;

  constructor(db: Database) {
    // job_flow first (CROSS JOIN keeps it outside): the key's rows, not every waiting job.
    this.find = db.prepare<{ targetId: number; key: string }, Debounced>(`
      SELECT f.job_id AS id, f.debounce_until AS untilAt, j.run_at AS runAt
        FROM job_flow f CROSS JOIN jobs j ON j.id = f.job_id
       WHERE f.debounce_key = @key AND f.target_id = @targetId AND j.state = 0`);
    // A job held back (waiting for parents, parked by its concurrency key, held by a pause) keeps run_at at
    // never-due: its run time asked for is ready_at, which is what moves.
    this.update = db.prepare(`
      UPDATE jobs SET params = @params, run_at = CASE WHEN run_at = @blocked THEN run_at ELSE @runAt END WHERE id = @id`);
    this.moveReadyAt = db.prepare('UPDATE job_flow SET ready_at = @runAt WHERE job_id = @id');
  }
}

export function isDebounced(job: NewJob): job is NewJob & { debounce: { key: string; untilAt: number | null } } {
  return job.debounce !== undefined && job.debounce !== null;
}

/** Inside a transaction: the id of the waiting job with `job`'s debounce key, updated with its params and run time; undefined if none. */
export function debounceInto(d: DebounceStatements, targetId: number, job: NewJob & { debounce: { key: string } }): number | undefined {
  const found = d.find.get({ targetId, key: job.debounce.key });
  if (found === undefined) return undefined;
  // Never past its first add plus maxSeconds.
  const runAt = found.untilAt === null ? job.runAt : Math.min(job.runAt, found.untilAt);
  d.update.run({ id: found.id, params: job.params, runAt, blocked: BLOCKED_RUN_AT });
  if (found.runAt === BLOCKED_RUN_AT) d.moveReadyAt.run({ id: found.id, runAt });
  return found.id;
}
