/**
 * A keyed job parked by its add on PostgreSQL, while another transaction
 * changes its key between the add's count and its commit. The add is driven
 * statement by statement (the store's own `keyLock` and `ahead`, as
 * keyed-rows.ts's KeyParking runs them, then `flowJob` as insert-jobs.ts
 * runs it for one job, or `rows` as keyed-rows.ts runs it for a run of jobs) so that the other transaction lands exactly in
 * that gap: what lets the parked job through must wait for the add, or it
 * would look for parked jobs before this one is there and leave it parked
 * for good.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewJob } from '../../src/store/job-store.ts';
import { insertStatements, type InsertStatements } from '../../src/store/postgres/insert-jobs.ts';
import type { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { schemaOf } from '../../src/store/postgres/schema.ts';
import { adminQuery, PGTEST_URL, postgresSkipReason, tempPostgresStore } from '../helpers/postgres.ts';

const keyed = (): NewJob =>
  ({ service: 'svc', method: 'run', params: '{"json":null}', runAt: 0, priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: Date.now(), concurrency: { key: 'k', limit: 1 } });

describe.skipIf(postgresSkipReason !== null)('a job parked at its add on PostgreSQL while its key changes', () => {
  let store: PostgresStore;
  let sql: InsertStatements;
  let add: pg.Client;

  beforeEach(async () => {
    store = await tempPostgresStore();
    sql = insertStatements(schemaOf(store.schema));
    add = new pg.Client({ connectionString: PGTEST_URL });
    await add.connect();
  });

  afterEach(async () => {
    await add.end();
  });

  /**
   * In `add`'s open transaction: locks the key, reads the jobs ahead, and inserts a keyed job parked, as the store
   * would, by the statement for one job (`flowJob`) or the one for a run of them (keyed-rows.ts); its id.
   */
  async function addParked(path: 'one' | 'run'): Promise<number> {
    await add.query('BEGIN');
    const { rows: [key] } = await add.query<{ running: number }>(sql.keyedRows.keyLock, ['k']);
    expect(key?.running).toEqual(expect.any(Number));
    // As KeyParking reads them when the key has room (none runs, in the cancel's case).
    if (key!.running < 1) await add.query(sql.keyedRows.ahead, ['k', 'svc', 'run', 1]);
    let id: number;
    if (path === 'one') {
      const { rows: [row] } = await add.query<{ id: string }>(sql.flowJob, [
        'svc', 'run', '{"json":null}', 0, 0, 3, null, Date.now(), null, null, // the jobs row, no unique key
        null, null, 'k', 1, 0, 0, false, null, true, // job_flow: no debounce, key k of limit 1, no parents, no rate limit; parked
      ]);
      id = Number(row!.id);
    } else {
      const { rows: [row] } = await add.query<{ id: string }>(sql.keyedRows.rows, [
        ['svc'], ['run'], ['{"json":null}'], [0], [0], [3], [null], [Date.now()], [null], ['k'], [1], [true],
      ]);
      id = Number(row!.id);
    }
    const { rows: [flow] } = await add.query<{ parked: boolean }>(`SELECT parked FROM ${schemaOf(store.schema).q}.job_flow WHERE job_id = $1`, [id]);
    expect(flow?.parked).toBe(true);
    return id;
  }

  /** Until a statement on this store's schema waits for a lock (the add's). */
  async function waitsForTheAdd(): Promise<void> {
    await expect.poll(async () => (await adminQuery(
      `SELECT count(*)::integer AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'`, [store.schema])).rows[0].n,
    { timeout: 5000, interval: 20 }).toBeGreaterThan(0);
  }

  for (const path of ['one', 'run'] as const) {
    it(`a cancel of the waiting job it was counted behind, made before the add commits, lets it through after (${path})`, async () => {
      const { ids: [waiting] } = await store.addJobs([keyed()]);
      const parked = await addParked(path);
      const cancelled = store.cancel(waiting!, Date.now());
      await waitsForTheAdd();
      await add.query('COMMIT');
      expect(await cancelled).toBe('cancelled');
      expect(await store.getJob(parked)).toMatchObject({ state: 'waiting', parked: false });
      expect((await store.claim({ owner: 'host:1:w', limit: 5, now: Date.now(), isolated: 'skip' })).map((j) => j.id)).toEqual([parked]);
    });

    it(`the end of the running job it was counted behind, before the add commits, lets it through after (${path})`, async () => {
      await store.addJobs([keyed()]);
      const [running] = await store.claim({ owner: 'host:1:w', limit: 5, now: Date.now(), isolated: 'skip' });
      const parked = await addParked(path);
      const completed = store.complete([{ id: running!.id, attempt: running!.attempt, database: running!.database, owner: 'host:1:w', outcome: 'succeeded', result: null, at: Date.now() }]);
      await waitsForTheAdd();
      await add.query('COMMIT');
      await completed;
      expect(await store.getJob(parked)).toMatchObject({ state: 'waiting', parked: false });
    });
  }
});
