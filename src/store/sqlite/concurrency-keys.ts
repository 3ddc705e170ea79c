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
    // A job just added, due, whose key's running jobs fill its limit (parkAtAdd): job_flow first, while run_at is
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

/**
 * Inside the add's transaction, after job `id` (keyed, with its job_flow
 * row) was inserted: if it is due at `now` and its key's running jobs
 * already fill its limit, it is parked at once, as a claim would park it.
 * Each of those running jobs lets a parked job through when it stops (the
 * triggers), so it waits for nothing that will not come; and a pile-up
 * behind a busy key costs the adds, not the first claim after them (issue
 * 18: 100,000 jobs behind one key). Waiting jobs of the key are not counted:
 * one could leave without running and release nothing.
 */
export function parkAtAdd(c: ConcurrencyStatements, id: number, key: string, limit: number, now: number): void {
  if ((c.running.get(key) ?? 0) < limit) return;
  c.parkNew.run({ id, now });
  c.holdNew.run({ id, now, blocked: BLOCKED_RUN_AT });
}
