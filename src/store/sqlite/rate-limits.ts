import type { Database, Statement } from 'better-sqlite3';
import { InvalidArgumentError } from '../../errors.ts';
import type { RateLimit, RateLimitUse } from '../job-store.ts';
import type { ClaimFlow } from './job-flow.ts';
import type { ClaimedRow } from './statements.ts';

/*
 * Rate limits on SQLite (migration 0015): a sliding log of starts per name.
 * A job's name is in its job_flow row (migration 0017).
 * The claim (under the write lock) starts a rate-limited job only while its
 * name has had fewer than `limit` starts in the last `perMs`, and moves the
 * others to the slots where they will have room.
 */

export class RateStatements {
  readonly set: Statement<{ name: string; limit: number; perMs: number }>;
  readonly list: Statement<[], RateLimit>;
  readonly get: Statement<[string], RateLimit>;
  readonly startsSince: Statement<[string, number], number>;
  readonly recordStart: Statement<[string, number, number]>;
  readonly forget: Statement<[string, number]>;
  readonly moveTo: Statement<[number, number]>;
  readonly use: Statement<{ now: number }, RateLimitUse>;

  constructor(db: Database) {
    this.set = db.prepare(`
      INSERT INTO rate_limits (name, max_starts, per_ms) VALUES (@name, @limit, @perMs)
      ON CONFLICT (name) DO UPDATE SET max_starts = excluded.max_starts, per_ms = excluded.per_ms`);
    this.list = db.prepare<[], RateLimit>('SELECT name, max_starts AS "limit", per_ms AS perMs FROM rate_limits ORDER BY name');
    this.get = db.prepare<[string], RateLimit>('SELECT name, max_starts AS "limit", per_ms AS perMs FROM rate_limits WHERE name = ?');
    this.startsSince = db.prepare<[string, number], number>('SELECT at FROM rate_starts WHERE name = ? AND at > ? ORDER BY at').pluck();
    this.recordStart = db.prepare<[string, number, number]>('INSERT OR IGNORE INTO rate_starts (name, at, id) VALUES (?, ?, ?)');
    this.forget = db.prepare<[string, number]>('DELETE FROM rate_starts WHERE name = ? AND at <= ?');
    this.moveTo = db.prepare<[number, number]>('UPDATE jobs SET run_at = ? WHERE id = ?');
    // Each name's starts in its window (now - per_ms, now], read on the log's primary key (name, at, id): CROSS JOIN
    // keeps the names outside, so each is a range of the key, never a scan of the log. How many, and the limit-th
    // newest: the start that has to leave before another may happen (the oldest when the window holds exactly the
    // limit). Older entries the claim has not forgotten yet are left out.
    this.use = db.prepare<{ now: number }, RateLimitUse>(`
      SELECT l.name, l.max_starts AS "limit", l.per_ms AS perMs, COALESCE(w.starts, 0) AS recentStarts,
             CASE WHEN w.starts >= l.max_starts THEN w.leaving + l.per_ms END AS freeAt
        FROM rate_limits l
        LEFT JOIN (
          SELECT name, count(*) AS starts, max(CASE WHEN newest = max_starts THEN at END) AS leaving
            FROM (SELECT s.name, s.at, r.max_starts, row_number() OVER (PARTITION BY s.name ORDER BY s.at DESC, s.id DESC) AS newest
                    FROM rate_limits r CROSS JOIN rate_starts s ON s.name = r.name AND s.at > @now - r.per_ms AND s.at <= @now)
           GROUP BY name
        ) w ON w.name = l.name
       ORDER BY l.name`);
  }
}

/** Inside an add's transaction, before the job's job_flow row names it: the rate limit must be set. @throws InvalidArgumentError naming it. */
export function checkRateLimit(r: RateStatements, name: string): void {
  if (r.get.get(name) === undefined) {
    throw new InvalidArgumentError(`rateLimit: no rate limit named "${name}" (set it first with worker.setRateLimit(name, { limit, perSeconds }))`);
  }
}

/**
 * Inside the claim's transaction: rows over their name's limit get the run
 * time of their slot (a start in the window leaving it, plus the starts
 * this claim makes), and true is returned (the claim reads again); false
 * when every rate-limited row may start now, whose starts are then logged.
 */
export function deferOverRate(r: RateStatements, rows: readonly ClaimedRow[], flows: ReadonlyMap<number, ClaimFlow>, now: number): boolean {
  const logs = new Map<string, { limit: RateLimit; starts: number[]; taking: number[] }>();
  let moved = false;
  for (const row of rows) {
    const name = flows.get(row[0])?.rateLimit ?? null;
    if (name === null) continue;
    let log = logs.get(name);
    if (log === undefined) {
      const limit = r.get.get(name);
      if (limit === undefined) continue; // a name deleted since (no API does): the job runs unlimited
      log = { limit, starts: r.startsSince.all(name, now - limit.perMs), taking: [] };
      logs.set(name, log);
    }
    const { limit, starts } = log;
    // The window ending now holds starts.length (sorted); room once the oldest that keeps it full leaves.
    if (starts.length < limit.limit) {
      starts.push(now);
      log.taking.push(row[0]);
      continue;
    }
    const slot = starts[starts.length - limit.limit]! + limit.perMs;
    r.moveTo.run(slot, row[0]);
    starts.push(slot); // the next one over waits for the slot after
    moved = true;
  }
  if (moved) return true;
  for (const [name, log] of logs) {
    r.forget.run(name, now - log.limit.perMs);
    for (const id of log.taking) r.recordStart.run(name, now, id);
  }
  return false;
}
