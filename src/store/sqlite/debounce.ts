import type { Database, Statement } from 'better-sqlite3';
import { BLOCKED_RUN_AT, type NewJob } from '../job-store.ts';

/* Debounce on SQLite (migration 0013): an add that finds a waiting job with its debounce key updates that job. */

export class DebounceStatements {
  readonly update: Statement<{ targetId: number; key: string; params: string; runAt: number; blocked: number }, number>;
  readonly set: Statement<{ id: number; key: string; untilAt: number | null }>;

  constructor(db: Database) {
    // A job held back (waiting for parents, or parked by its concurrency key) keeps run_at at never-due: its
    // run time asked for is ready_at, which is what moves.
    this.update = db.prepare<{ targetId: number; key: string; params: string; runAt: number; blocked: number }, number>(`
      UPDATE jobs
         SET params = @params,
             run_at = CASE WHEN run_at = @blocked THEN run_at ELSE min(@runAt, coalesce(debounce_until, @runAt)) END,
             ready_at = CASE WHEN run_at = @blocked THEN min(@runAt, coalesce(debounce_until, @runAt)) ELSE ready_at END
       WHERE target_id = @targetId AND debounce_key = @key AND state = 0
      RETURNING id`).pluck();
    this.set = db.prepare('UPDATE jobs SET debounce_key = @key, debounce_until = @untilAt WHERE id = @id');
  }
}

export function isDebounced(job: NewJob): job is NewJob & { debounce: { key: string; untilAt: number | null } } {
  return job.debounce !== undefined && job.debounce !== null;
}

/** Inside a transaction: the id of the waiting job with `job`'s debounce key, updated with its params and run time; undefined if none. */
export function debounceInto(d: DebounceStatements, targetId: number, job: NewJob & { debounce: { key: string } }): number | undefined {
  return d.update.get({ targetId, key: job.debounce.key, params: job.params, runAt: job.runAt, blocked: BLOCKED_RUN_AT });
}
