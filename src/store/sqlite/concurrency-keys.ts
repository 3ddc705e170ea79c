import type { Database, Statement } from 'better-sqlite3';
import { BLOCKED_RUN_AT, type ConcurrencyKeyUse } from '../job-store.ts';
import type { ClaimedRow } from './statements.ts';

/*
 * Per-key concurrency on SQLite (migration 0012): the claim's part. The
 * migration's triggers count running jobs per key and let parked jobs
 * through as slots free.
 */

/** The statements of this file, prepared on a connection's first use of them. */
export class ConcurrencyStatements {
  readonly running: Statement<[string], number>;
  readonly park: Statement<{ key: string; now: number; keep: string; blocked: number }>;
  readonly setLimit: Statement<[string, number, number]>;
  readonly inUse: Statement<[number], ConcurrencyKeyUse>;

  constructor(db: Database) {
    this.running = db.prepare<[string], number>('SELECT running FROM concurrency_keys WHERE key = ?').pluck();
    // Every due job of the key but those this claim takes: out of every claim's way until a slot frees.
    this.park = db.prepare(`
      UPDATE jobs SET parked = 1, ready_at = run_at, run_at = @blocked
       WHERE state = 0 AND parked = 0 AND concurrency_key = @key AND run_at <= @now
         AND id NOT IN (SELECT value FROM json_each(@keep))`);
    this.setLimit = db.prepare<[string, number, number]>('UPDATE jobs SET concurrency_key = ?, concurrency_limit = ? WHERE id = ?');
    // Keys running something (their counter rows), and parked jobs counted on the index the release uses. A
    // cancelled job keeps parked = 1 here, so only waiting ones count. The limit is the next one out's.
    this.inUse = db.prepare<[number], ConcurrencyKeyUse>(`
      SELECT key, sum(running) AS running, sum(parked) AS parked,
             (SELECT concurrency_limit FROM jobs j WHERE j.parked = 1 AND j.state = 0 AND j.concurrency_key = u.key
               ORDER BY j.priority DESC, j.ready_at, j.id LIMIT 1) AS "limit"
        FROM (SELECT key, running, 0 AS parked FROM concurrency_keys WHERE running > 0
              UNION ALL
              SELECT concurrency_key, 0, count(*) FROM jobs WHERE parked = 1 AND state = 0 GROUP BY concurrency_key) u
       GROUP BY key ORDER BY parked DESC, running DESC, key LIMIT ?`);
  }
}

/** Column positions of a claimed row's key and limit (see {@link ClaimedRow}). */
const KEY = 8;
const LIMIT = 9;

/**
 * Inside the claim's transaction, with `rows` the due jobs it read: if a
 * keyed row's key has no room for it (its running jobs, plus the rows before
 * it in this claim, reach its limit), parks the key's other due jobs and
 * returns true: the claim reads again, and finds other jobs in their place.
 * Returns false when every row may start.
 */
export function parkOverLimit(c: ConcurrencyStatements, rows: readonly ClaimedRow[], now: number): boolean {
  const taking = new Map<string, number[]>();
  const full = new Set<string>();
  for (const row of rows) {
    const key = row[KEY];
    if (key === null) continue;
    const taken = taking.get(key) ?? [];
    if ((c.running.get(key) ?? 0) + taken.length < (row[LIMIT] ?? 1)) {
      taken.push(row[0]);
      taking.set(key, taken);
    } else {
      full.add(key);
    }
  }
  for (const key of full) c.park.run({ key, now, keep: JSON.stringify(taking.get(key) ?? []), blocked: BLOCKED_RUN_AT });
  return full.size > 0;
}
