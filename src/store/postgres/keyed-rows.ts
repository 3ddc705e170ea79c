import type pg from 'pg';
import { BLOCKED_RUN_AT, type ConcurrencyLimit, type NewJob } from '../job-store.ts';
import { COLUMNS, TAGS, values } from './job-values.ts';
import { databaseId, NOW_MS, STATE, type Schema } from './schema.ts';

/*
 * Jobs whose only option beyond a plain job's is a concurrency key, added
 * many at a time on PostgreSQL: one INSERT per run of them, each parked or
 * not as it goes in (the rule of `flowJob` in insert-jobs.ts, worked out here
 * for the whole run). One by one, each took a statement of ~0.8 ms.
 */

/** A job with a concurrency key and nothing else that needs a statement of its own. */
export type KeyedRow = NewJob & { concurrency: ConcurrencyLimit };

export interface KeyedRowStatements {
  readonly keyLock: string;
  readonly ahead: string;
  readonly rows: string;
}

export function keyedRowStatements(s: Schema): KeyedRowStatements {
  return {
    // A key's row, locked for the add's transaction, as every change of its running count locks it (FOR UPDATE reads
    // the newest version); made if new (claims lock it before counting, so it exists before a job of the key can be
    // claimed): no other transaction sees it, or can make it, until this one ends, so it is as good as locked, with
    // nothing running. NULL: another transaction holds it. Then the add parks nothing of the key: waiting for the
    // lock could deadlock with a claim locking several keys in another order.
    keyLock: `
      WITH key_row AS (INSERT INTO ${s.q}.concurrency_keys (key) VALUES ($1) ON CONFLICT DO NOTHING RETURNING running)
      SELECT COALESCE((SELECT running FROM key_row),
                      (SELECT running FROM ${s.q}.concurrency_keys WHERE key = $1 FOR UPDATE SKIP LOCKED)) AS running`,
    // The first $4 due waiting jobs of a key and method, not parked, in claim order: those a new job of theirs may
    // wait behind. Run after the key's lock, so its snapshot sees every release committed before; locked FOR KEY
    // SHARE, so a cancel of one (whose trigger lets a parked job through) waits for the add and then sees the job
    // it parked, and one another transaction is changing is left out (SKIP LOCKED).
    ahead: `
      SELECT j.priority, j.run_at FROM ${s.q}.job_flow f JOIN ${s.q}.jobs j ON j.id = f.job_id
       WHERE f.concurrency_key = $1 AND NOT f.parked AND f.service = $2 AND f.method = $3
         AND j.state = ${STATE.waiting} AND j.run_at <= ${NOW_MS}
       ORDER BY j.priority DESC, j.run_at LIMIT $4
         FOR KEY SHARE OF j SKIP LOCKED`,
    // The run, with its job_flow rows; a row asked to park is parked if due by the server's clock. Ids drawn in the
    // CTE, so each input row's id is known by its ordinality.
    rows: `
      WITH input AS MATERIALIZED (
        SELECT nextval('${s.q}.job_ids') AS id, t.*, t.park AND t.run_at <= ${NOW_MS} AS parked
          FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::bigint[], $6::integer[], $7::bigint[], $8::bigint[],
                      $9::text[], $10::text[], $11::integer[], $12::boolean[])
               WITH ORDINALITY AS t(service, method, params, priority, run_at, max_attempts, timeout_ms, created_at, tags,
                                    concurrency_key, concurrency_limit, park, ord)
      ), inserted AS (
        INSERT INTO ${s.q}.jobs (id, ${COLUMNS}, flow)
        SELECT id, service, method, params, priority, CASE WHEN parked THEN ${BLOCKED_RUN_AT} ELSE run_at END, max_attempts, timeout_ms, created_at,
               ${TAGS('tags')}, true
          FROM input
      ), flow AS (
        INSERT INTO ${s.q}.job_flow (job_id, service, method, priority, concurrency_key, concurrency_limit, parked, ready_at)
        SELECT id, service, method, priority, concurrency_key, concurrency_limit, parked, CASE WHEN parked THEN run_at END FROM input
      )
      SELECT id, ${databaseId(s)} AS database FROM input ORDER BY ord`,
  };
}

/**
 * The keys a transaction has locked (see `keyLock`), with their running
 * jobs: that count cannot change while the lock is held (every change of it
 * takes the lock), so later jobs of the key in the same call skip the
 * statement.
 */
export type LockedKeys = Map<string, number>;

/** Inside the add's transaction: makes `key`'s row if new and locks it; its running jobs, or null if not locked (see `keyLock`). */
export async function lockKey(client: pg.ClientBase, sql: KeyedRowStatements, keys: LockedKeys, key: string): Promise<number | null> {
  const known = keys.get(key);
  if (known !== undefined) return known;
  const { rows } = await client.query<{ running: number | null }>({ name: 'key-lock', text: sql.keyLock, values: [key] });
  const running = rows[0]?.running ?? null; // one row, always
  if (running !== null) keys.set(key, running);
  return running;
}

interface Waiting {
  readonly priority: number;
  readonly runAt: number;
}

/** Whether `a` is claimed before `b` (claim order: priority, then run time; ids are older first). */
const before = (a: Waiting, b: Waiting): boolean => a.priority > b.priority || (a.priority === b.priority && a.runAt <= b.runAt);

/**
 * Inside the add's transaction: inserts `jobs` (each {@link KeyedRow}) in
 * one statement and returns their ids in order. Each is parked if due and
 * its key is full before it, as `flowJob` decides for one job: the key's
 * running jobs, plus the due waiting jobs of its key and method not parked
 * that a claim takes first, those already there ({@link KeyedRowStatements.ahead})
 * and those of this run going in unparked before it, reach its limit. `now`:
 * this process's clock, which tells which of this run's jobs are due when
 * counting them (the server's decides whether a job asked to park is due:
 * where the two differ, a job may wait behind one of this run not yet due,
 * until that one has run).
 */
export async function insertKeyedRows(
  client: pg.ClientBase, sql: KeyedRowStatements, keys: LockedKeys, jobs: readonly KeyedRow[], now: number,
): Promise<{ id: number; database: string }[]> {
  const running = new Map<string, number | null>();
  const most = new Map<string, number>();
  for (const { concurrency: { key, limit } } of jobs) {
    if (!running.has(key)) running.set(key, await lockKey(client, sql, keys, key));
    most.set(key, Math.max(most.get(key) ?? 0, limit));
  }
  const waiting = new Map<string, Waiting[]>();
  const park: boolean[] = [];
  for (const job of jobs) {
    const { key, limit } = job.concurrency;
    const count = running.get(key) ?? null;
    if (count === null) {
      park.push(false);
      continue;
    }
    const group = JSON.stringify([key, job.service, job.method]);
    let ahead = waiting.get(group);
    if (ahead === undefined) {
      const { rows } = await client.query<{ priority: number; run_at: number }>({ name: 'key-ahead', text: sql.ahead, values: [key, job.service, job.method, most.get(key)] });
      ahead = rows.map((row) => ({ priority: row.priority, runAt: Number(row.run_at) }));
      waiting.set(group, ahead);
    }
    const me = { priority: job.priority, runAt: job.runAt };
    const full = count + ahead.filter((other) => before(other, me)).length >= limit;
    park.push(full);
    if (!full && job.runAt <= now) ahead.push(me);
  }
  const columns: unknown[][] = Array.from({ length: 12 }, () => new Array<unknown>(jobs.length));
  jobs.forEach((job, i) => {
    const row = [...values(job), job.concurrency.key, job.concurrency.limit, park[i]];
    for (let c = 0; c < 12; c++) columns[c]![i] = row[c];
  });
  const { rows } = await client.query<{ id: number; database: string }>({ name: 'insert-keyed-rows', text: sql.rows, values: columns });
  return rows;
}
