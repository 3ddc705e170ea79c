import type { Database, Statement } from 'better-sqlite3';
import { BLOCKED_RUN_AT, type ConcurrencyKeyUse } from '../job-store.ts';
import type { ClaimFlow } from './job-flow.ts';
import type { ClaimedRow } from './statements.ts';

/*
 * Per-key concurrency on SQLite (migration 0012): the claim's part. The
 * triggers (flow-triggers.ts) count running jobs per key and let parked jobs
 * through as slots free. A job's key, limit and parked flag are in its
 * job_flow row (migration 0017); its state and run_at in `jobs`. The joins
 * name job_flow first (CROSS JOIN keeps it outside): a key's rows are few,
 * the waiting jobs may be many.
 */

/** The statements of this file, prepared on a connection's first use of them. */
export class ConcurrencyStatements {
  readonly running: Statement<[string], number>;
  readonly park: Statement<{ key: string; now: number; keep: string }>;
  readonly holdParked: Statement<{ key: string; now: number; keep: string; blocked: number }>;
  readonly inUse: Statement<[number], ConcurrencyKeyUse>;
  readonly aheadOfNew: Statement<{ id: number; key: string; targetId: number; priority: number; runAt: number; now: number; room: number }, number>;
  readonly parkNew: Statement<{ id: number; now: number }>;
  readonly holdNew: Statement<{ id: number; now: number; blocked: number }>;

  constructor(db: Database) {
    this.running = db.prepare<[string], number>('SELECT running FROM concurrency_keys WHERE key = ?').pluck();
    // Every due job of the key but those this claim takes: out of every claim's way until a slot frees. Two
    // statements, one per table; the second finds the jobs the first parked (parked, and still due). UPDATE … FROM
    // reads each job once (a sub-select for run_at and an EXISTS read it twice: 100,000 parked in ~120 ms, not ~165).
    this.park = db.prepare(`
      UPDATE job_flow SET parked = 1, ready_at = j.run_at
        FROM jobs j
       WHERE j.id = job_flow.job_id AND job_flow.concurrency_key = @key AND job_flow.parked = 0 AND j.state = 0 AND j.run_at <= @now
         AND job_flow.job_id NOT IN (SELECT value FROM json_each(@keep))`);
    this.holdParked = db.prepare(`
      UPDATE jobs SET run_at = @blocked
        FROM job_flow f
       WHERE f.job_id = jobs.id AND f.concurrency_key = @key AND f.parked = 1 AND jobs.state = 0 AND jobs.run_at <= @now
         AND jobs.id NOT IN (SELECT value FROM json_each(@keep))`);
    // Due waiting jobs of the key, of the new job's target, not parked, that a claim would take before it (claim
    // order: priority, then run time), up to `room` of them (parkAtAdd).
    this.aheadOfNew = db.prepare<{ id: number; key: string; targetId: number; priority: number; runAt: number; now: number; room: number }, number>(`
      SELECT count(*) FROM (
        SELECT 1 FROM job_flow f CROSS JOIN jobs j ON j.id = f.job_id
         WHERE f.concurrency_key = @key AND f.target_id = @targetId AND f.parked = 0 AND f.job_id <> @id
           AND j.state = 0 AND j.run_at <= @now AND (j.priority > @priority OR (j.priority = @priority AND j.run_at <= @runAt))
         LIMIT @room)`).pluck();
    // A job just added, due, whose key is full (parkAtAdd): job_flow first, while run_at is
    // still the time asked for. One waiting for parents (run_at held) is left to them.
    this.parkNew = db.prepare(`
      UPDATE job_flow SET parked = 1, ready_at = j.run_at FROM jobs j
       WHERE job_flow.job_id = @id AND j.id = @id AND j.run_at <= @now`);
    this.holdNew = db.prepare('UPDATE jobs SET run_at = @blocked WHERE id = @id AND run_at <= @now');
    // Keys running something (their counter rows), and parked jobs counted on the index the release uses. A
    // cancelled job keeps parked = 1 here, so only waiting ones count. The limit is the next one out's.
    this.inUse = db.prepare<[number], ConcurrencyKeyUse>(`
      SELECT key, sum(running) AS running, sum(parked) AS parked,
             (SELECT f.concurrency_limit FROM job_flow f CROSS JOIN jobs j ON j.id = f.job_id
               WHERE f.parked = 1 AND f.concurrency_key = u.key AND j.state = 0
               ORDER BY f.priority DESC, f.ready_at, f.job_id LIMIT 1) AS "limit"
        FROM (SELECT key, running, 0 AS parked FROM concurrency_keys WHERE running > 0
              UNION ALL
              SELECT f.concurrency_key, 0, count(*) FROM job_flow f CROSS JOIN jobs j ON j.id = f.job_id
               WHERE f.parked = 1 AND j.state = 0 GROUP BY f.concurrency_key) u
       GROUP BY key ORDER BY parked DESC, running DESC, key LIMIT ?`);
  }
}

/**
 * Inside the claim's transaction, with `rows` the due jobs it read: if a
 * keyed row's key has no room for it (its running jobs, plus the rows before
 * it in this claim, reach its limit), parks the key's other due jobs and
 * returns true: the claim reads again, and finds other jobs in their place.
 * Returns false when every row may start.
 */
export function parkOverLimit(c: ConcurrencyStatements, rows: readonly ClaimedRow[], flows: ReadonlyMap<number, ClaimFlow>, now: number): boolean {
  const taking = new Map<string, number[]>();
  const full = new Set<string>();
  for (const row of rows) {
    const flow = flows.get(row[0]);
    const key = flow?.concurrencyKey ?? null;
    if (key === null) continue;
    const taken = taking.get(key) ?? [];
    if ((c.running.get(key) ?? 0) + taken.length < (flow?.concurrencyLimit ?? 1)) {
      taken.push(row[0]);
      taking.set(key, taken);
    } else {
      full.add(key);
    }
  }
  for (const key of full) {
    const keep = JSON.stringify(taking.get(key) ?? []);
    c.park.run({ key, now, keep });
    c.holdParked.run({ key, now, keep, blocked: BLOCKED_RUN_AT });
  }
  return full.size > 0;
}

/** The new job {@link parkAtAdd} looks at: its id, target, priority and run time asked for. */
export interface NewKeyedJob {
  readonly id: number;
  readonly targetId: number;
  readonly priority: number;
  readonly runAt: number;
}

/**
 * Inside the add's transaction, after keyed job `job` (with its job_flow
 * row) was inserted: if it is due at `now` and its key is full before it, it
 * is parked at once, as a claim would park it; so a pile-up on a key costs
 * the adds, not the first claim after them (issue 18: 100,000 jobs behind
 * one key). Full: the key's running jobs, and its due waiting jobs of the
 * same target that a claim would take first (not parked), reach the limit.
 * Each of those lets a parked job through when it leaves: a running one
 * when it stops, a waiting one when it stops after running, or when it is
 * cancelled (the triggers). A waiting one held by a pause holds this job's
 * target too, so nothing is lost waiting for its resume. Jobs of other
 * targets are not counted: a pause of theirs would hold them and let none
 * through. One counted that then moves later (a rate limit's slot, a
 * debounce) keeps this one parked until it has run.
 */
export function parkAtAdd(c: ConcurrencyStatements, job: NewKeyedJob, key: string, limit: number, now: number): void {
  if (job.runAt > now) return;
  const room = limit - (c.running.get(key) ?? 0);
  if (room > 0 && c.aheadOfNew.get({ ...job, key, now, room })! < room) return;
  c.parkNew.run({ id: job.id, now });
  c.holdNew.run({ id: job.id, now, blocked: BLOCKED_RUN_AT });
}
