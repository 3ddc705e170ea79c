import type pg from 'pg';
import { BLOCKED_RUN_AT, type ConcurrencyLimit, type NewJob } from '../job-store.ts';
import { COLUMNS, TAGS, values } from './job-values.ts';
import { databaseId, NOW_MS, STATE, type Schema } from './schema.ts';

/*
 * Keyed jobs at their add on PostgreSQL: whether each goes in parked
 * ({@link KeyParking}, for every add path), and jobs whose only option beyond
 * a plain job's is a concurrency key added many at a time, one INSERT per
 * run of them (one by one, each took a statement of ~0.8 ms).
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
    // wait behind. Run after the key's lock, so its snapshot sees every release committed before (a running job's
    // stop locks the key's row, so one after waits for the add and then sees the job it must let through); locked
    // FOR KEY SHARE, so a cancel of one (whose trigger lets a parked job through) waits likewise, and one another
    // transaction is changing is left out (SKIP LOCKED). A claim passes them over until the add commits, as it
    // waits for the key's row.
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

interface Waiting {
  readonly priority: number;
  readonly runAt: number;
}

/** Whether `a` is claimed before `b` (claim order: priority, then run time; ids are older first). */
const before = (a: Waiting, b: Waiting): boolean => a.priority > b.priority || (a.priority === b.priority && a.runAt <= b.runAt);

/** A job with a concurrency key, of any other options. */
type WithKey = NewJob & { concurrency: ConcurrencyLimit };

/**
 * Whether each keyed job of one add call goes in parked, for both add paths
 * (`insertKeyedRows` here, `flowJob` in insert-jobs.ts): the job is parked
 * if due and its key is full before it, that is its key's running jobs and
 * the due waiting jobs of its key and method, not parked, that a claim takes
 * first, reach its limit. As the SQLite store's parkAtAdd (see there for why
 * only jobs of the same method count). Each key is locked once per call
 * (`keyLock`: its running count cannot change while the lock is held), the
 * jobs ahead are read once per key and method (`ahead`, after the lock, so
 * its snapshot sees every release committed before), and the call's own
 * jobs that went in unparked are added to them ({@link admitted}).
 */
export class KeyParking {
  readonly #client: pg.ClientBase;
  readonly #sql: KeyedRowStatements;
  /** Each key's running jobs, once locked (a key not locked is tried again by its next job). */
  readonly #running = new Map<string, number>();
  /** The most any of the call's jobs allows at once, per key: as many jobs ahead are read. */
  readonly #most = new Map<string, number>();
  readonly #ahead = new Map<string, Waiting[]>();
  readonly #now: number;

  /**
   * `jobs`: the call's jobs; `now`: this process's clock, which tells which
   * of them are due when counting them (the server's decides whether a job
   * asked to park is due: where the two differ, a job may wait behind one of
   * the call's not yet due, until that one has run).
   */
  constructor(client: pg.ClientBase, sql: KeyedRowStatements, jobs: readonly NewJob[], now: number) {
    this.#client = client;
    this.#sql = sql;
    this.#now = now;
    for (const { concurrency } of jobs) {
      if (concurrency !== undefined && concurrency !== null) this.#most.set(concurrency.key, Math.max(this.#most.get(concurrency.key) ?? 0, concurrency.limit));
    }
  }

  /**
   * Inside the add's transaction, before `job` goes in: locks its key (making
   * its row if new) and says whether it goes in parked. `waits`: it waits for
   * parents, so it is held, not parked.
   */
  async park(job: WithKey, waits: boolean): Promise<boolean> {
    const { key, limit } = job.concurrency;
    const running = await this.#lock(key);
    if (running === null || waits) return false;
    if (running >= limit) return true;
    const me = { priority: job.priority, runAt: job.runAt };
    return running + (await this.#aheadOf(job)).filter((other) => before(other, me)).length >= limit;
  }

  /** After `job` went in as {@link park} said (not a unique key's job found instead): one that went in unparked and due counts for those after it. */
  admitted(job: WithKey, parked: boolean): void {
    if (parked || job.runAt > this.#now) return;
    this.#ahead.get(group(job))?.push({ priority: job.priority, runAt: job.runAt });
  }

  async #lock(key: string): Promise<number | null> {
    const known = this.#running.get(key);
    if (known !== undefined) return known;
    const { rows } = await this.#client.query<{ running: number | null }>({ name: 'key-lock', text: this.#sql.keyLock, values: [key] });
    const running = rows[0]?.running ?? null; // one row, always
    if (running !== null) this.#running.set(key, running);
    return running;
  }

  async #aheadOf(job: WithKey): Promise<Waiting[]> {
    let ahead = this.#ahead.get(group(job));
    if (ahead === undefined) {
      const { key, limit } = job.concurrency;
      const { rows } = await this.#client.query<{ priority: number; run_at: number }>({
        name: 'key-ahead', text: this.#sql.ahead, values: [key, job.service, job.method, this.#most.get(key) ?? limit],
      });
      ahead = rows.map((row) => ({ priority: row.priority, runAt: Number(row.run_at) }));
      this.#ahead.set(group(job), ahead);
    }
    return ahead;
  }
}

const group = (job: WithKey): string => JSON.stringify([job.concurrency.key, job.service, job.method]);

/**
 * Inside the add's transaction: inserts `jobs` (each {@link KeyedRow}) in
 * one statement, each parked or not as `parking` says, and returns their
 * ids in order.
 */
export async function insertKeyedRows(
  client: pg.ClientBase, sql: KeyedRowStatements, parking: KeyParking, jobs: readonly KeyedRow[],
): Promise<{ id: number; database: string }[]> {
  const columns: unknown[][] = Array.from({ length: 12 }, () => new Array<unknown>(jobs.length));
  for (const [i, job] of jobs.entries()) {
    const park = await parking.park(job, false);
    parking.admitted(job, park);
    const row = [...values(job), job.concurrency.key, job.concurrency.limit, park];
    for (let c = 0; c < 12; c++) columns[c]![i] = row[c];
  }
  const { rows } = await client.query<{ id: number; database: string }>({ name: 'insert-keyed-rows', text: sql.rows, values: columns });
  return rows;
}
