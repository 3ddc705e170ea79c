import type { PruneBudget, PruneCutoffs } from '../job-store.ts';
import type { Connections } from './pool.ts';
import { STATE, type Schema } from './schema.ts';

/** Job ids in one window of the sweep. */
const PRUNE_WINDOW = 10_000;

export interface PruneStatements {
  readonly firstAfter: string;
  readonly newest: string;
  readonly prune: string;
}

export function pruneStatements(s: Schema): PruneStatements {
  return {
    firstAfter: `SELECT id FROM ${s.q}.finished_jobs WHERE id > $1 ORDER BY id LIMIT 1`,
    newest: `SELECT greatest((SELECT max(id) FROM ${s.q}.jobs), (SELECT max(id) FROM ${s.q}.finished_jobs)) AS id`,
    // One window's finished jobs past their retention, at most $5, with their errors, notes and occurrence records, in
    // one statement. Never the newest job: ids come from a sequence and are never handed out twice anyway, but the
    // contract is the same for every store. Locked, so a retry moving one back waits and then finds it gone.
    prune: `
      WITH doomed AS MATERIALIZED (
        SELECT id, recurring_id, fire_time FROM ${s.q}.finished_jobs
         WHERE id > $1 AND id <= $2
           AND id < (SELECT greatest((SELECT max(id) FROM ${s.q}.jobs), (SELECT max(id) FROM ${s.q}.finished_jobs)))
           AND ((state = ${STATE.succeeded} AND finished_at < $3) OR (state IN (${STATE.failed}, ${STATE.cancelled}) AND finished_at < $4))
           -- A parent is kept while jobs that run after it wait or run (all in jobs): they read its result (ctx.parents).
           AND (NOT has_dependants OR NOT EXISTS (SELECT 1 FROM ${s.q}.job_parents p JOIN ${s.q}.jobs d ON d.id = p.job_id
                                                   WHERE p.parent_id = finished_jobs.id))
         ORDER BY id LIMIT $5
           FOR UPDATE
      ), errors AS (
        DELETE FROM ${s.q}.job_errors WHERE job_id IN (SELECT id FROM doomed)
      ), notes AS (
        DELETE FROM ${s.q}.job_notes WHERE job_id IN (SELECT id FROM doomed)
      ), links AS (
        DELETE FROM ${s.q}.job_parents WHERE job_id IN (SELECT id FROM doomed)
      ), fires AS (
        DELETE FROM ${s.q}.recurring_fires f USING doomed d WHERE f.recurring_id = d.recurring_id AND f.fire_time = d.fire_time
      ), gone AS (
        DELETE FROM ${s.q}.finished_jobs WHERE id IN (SELECT id FROM doomed) RETURNING id
      )
      SELECT count(*)::integer AS deleted FROM gone`,
  };
}

/**
 * Deletes finished jobs past their retention by sweeping finished_jobs in
 * windows of ids (see {@link JobStore.prune}); each deletion is one short
 * statement of at most `budget.batch` jobs, so pruning never holds locks for
 * long. Only finished jobs are in that table, so the sweep never reads the
 * claim path. Holds the sweep's position; one per store.
 */
export class PruneSweep {
  #cursor = 0;

  async run(db: Connections, sql: PruneStatements, cutoffs: PruneCutoffs, budget: PruneBudget): Promise<number> {
    let deleted = 0;
    for (let windows = 0, batches = 0; windows < budget.windows && batches < budget.batches; ) {
      const first = await db.read(async (c) => (await c.query<{ id: number }>({ name: 'prune-first', text: sql.firstAfter, values: [this.#cursor] })).rows[0]?.id);
      if (first === undefined) {
        this.#cursor = 0;
        break;
      }
      const after = first - 1;
      const upTo = after + PRUNE_WINDOW;
      // Deleting is idempotent (it re-reads what is prunable), so a lost answer may be retried.
      const found = await db.read(async (c) => (await c.query<{ deleted: number }>({
        name: 'prune',
        text: sql.prune,
        values: [after, upTo, cutoffs.succeededBefore, cutoffs.failedBefore, budget.batch],
      })).rows[0]!.deleted);
      deleted += found;
      if (found > 0) batches++;
      // A full batch may have left more in this window: the next step looks at it again.
      if (found === budget.batch) continue;
      windows++;
      this.#cursor = upTo;
      const newest = await db.read(async (c) => (await c.query<{ id: number | null }>({ name: 'prune-newest', text: sql.newest })).rows[0]!.id);
      if (upTo >= (newest ?? 0)) {
        this.#cursor = 0; // round the table at most once per call
        break;
      }
    }
    return deleted;
  }
}
