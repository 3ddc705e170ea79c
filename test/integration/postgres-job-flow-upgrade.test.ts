/**
 * Migration 0010 on PostgreSQL moves the live state of workflows and limits
 * out of `jobs` into job_flow and rebuilds `jobs`: a schema an older
 * scheduler left, holding a job of every kind, comes through with each job
 * where it was (waiting for a parent, parked behind its key, held by a
 * pause, debounced), and each goes on as it would have.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import type { Completion, NewJob } from '../../src/store/job-store.ts';
import { loadMigrations, migrate } from '../../src/store/postgres/migrate.ts';
import { adminQuery, freshSchema, PGTEST_URL, postgresSkipReason, tempPostgresStore } from '../helpers/postgres.ts';

const NEVER = 9007199254740991;
const OWNER = 'host:1:upgrade';

describe.skipIf(postgresSkipReason !== null)('upgrading a PostgreSQL schema to job_flow (migration 0010)', () => {
  it('keeps every waiting, parked, held and debounced job where it was, and each goes on as before', async () => {
    const schema = freshSchema();
    const client = new pg.Client({ connectionString: PGTEST_URL });
    await client.connect();
    try {
      await migrate(client, schema, schema, loadMigrations().filter((m) => m.version <= 9));
    } finally {
      await client.end();
    }
    const q = `"${schema}"`;
    // As version 9's adds left them: the triggers first, then the rows.
    await adminQuery(`SELECT ${q}.use_job_flow()`);
    const insert = async (columns: Record<string, unknown>): Promise<number> => {
      const all = { priority: 0, run_at: 0, max_attempts: 3, service: 'svc', method: 'run', params: '{"json":null}', created_at: 0, ...columns };
      const names = Object.keys(all);
      const { rows } = await adminQuery(
        `INSERT INTO ${q}.jobs (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING id`, Object.values(all));
      return Number(rows[0].id);
    };
    const parent = await insert({ has_dependants: true });
    const dependant = await insert({ parents: 1, waiting_for: 1, ready_at: 0, run_at: NEVER });
    await adminQuery(`INSERT INTO ${q}.job_parents (job_id, position, parent_id) VALUES ($1, 0, $2)`, [dependant, parent]);
    await adminQuery(`INSERT INTO ${q}.concurrency_keys (key) VALUES ('zone')`);
    const keyed = await insert({ concurrency_key: 'zone', concurrency_limit: 1 });
    const parked = await insert({ concurrency_key: 'zone', concurrency_limit: 1, parked: true, ready_at: 0, run_at: NEVER });
    await adminQuery(`INSERT INTO ${q}.paused (service, method, at) VALUES ('svc', 'held', 0)`);
    const held = await insert({ method: 'held', held: true, ready_at: 0, run_at: NEVER });
    const later = Date.now() + 3_600_000;
    const debounced = await insert({ method: 'debounced', debounce_key: 'b', debounce_until: later + 60_000, run_at: later });
    const plain = await insert({});

    const store = await tempPostgresStore({ schema }); // opening migrates
    const { rows: flow } = await adminQuery(`SELECT job_id FROM ${q}.job_flow ORDER BY job_id`);
    expect(flow.map((r: { job_id: string }) => Number(r.job_id))).toEqual([parent, dependant, keyed, parked, held, debounced]);
    const { rows: flagged } = await adminQuery(`SELECT id FROM ${q}.jobs WHERE flow ORDER BY id`);
    expect(flagged.map((r: { id: string }) => Number(r.id))).toEqual([parent, dependant, keyed, parked, held, debounced]);
    const { rows: columns } = await adminQuery(
      `SELECT count(*)::integer AS n FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'jobs' AND column_name = 'parked'`, [schema]);
    expect(columns[0].n).toBe(0);

    expect(await store.getJob(dependant)).toMatchObject({ state: 'waiting', waitingFor: 1, after: [parent], runAt: 0 });
    expect(await store.getJob(parked)).toMatchObject({ state: 'waiting', parked: true, concurrency: { key: 'zone', limit: 1 } });
    expect(await store.getJob(held)).toMatchObject({ state: 'waiting', held: true });

    // A debounced add still finds the waiting job.
    const again: NewJob = { service: 'svc', method: 'debounced', params: '{"json":2}', runAt: later + 1000, priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: Date.now(), debounce: { key: 'b', untilAt: later + 60_000 } };
    expect((await store.addJob(again)).id).toBe(debounced);
    expect(await store.getJob(debounced)).toMatchObject({ params: '{"json":2}', runAt: later + 1000 });

    const done = (jobs: { id: number; attempt: number; database: string }[]): Completion[] =>
      jobs.map((j) => ({ id: j.id, attempt: j.attempt, database: j.database, owner: OWNER, outcome: 'succeeded', result: null, at: Date.now() }));
    const first = await store.claim({ owner: OWNER, limit: 10, now: Date.now(), isolated: 'skip' });
    expect(first.map((j) => j.id).sort((a, b) => a - b)).toEqual([parent, keyed, plain]);
    expect((await store.concurrencyKeys(10)).find((k) => k.key === 'zone')).toMatchObject({ running: 1, parked: 1 });
    await store.complete(done(first));
    // The parent's success releases its dependant; the key's free slot, the parked job; the finished ones' rows go.
    expect(await store.resume('svc', 'held')).toBe(true);
    const second = await store.claim({ owner: OWNER, limit: 10, now: Date.now(), isolated: 'skip' });
    expect(second.map((j) => j.id).sort((a, b) => a - b)).toEqual([dependant, parked, held]);
    expect(second.find((j) => j.id === dependant)?.parents).toBe(1);
    await store.complete(done(second));
    const { rows: left } = await adminQuery(`SELECT job_id FROM ${q}.job_flow ORDER BY job_id`);
    expect(left.map((r: { job_id: string }) => Number(r.job_id))).toEqual([debounced]);
    expect(await store.getJob(parent)).toMatchObject({ state: 'succeeded' });
    expect(await store.getJob(parked)).toMatchObject({ state: 'succeeded', concurrency: { key: 'zone', limit: 1 } });
    expect(await store.getJob(dependant)).toMatchObject({ state: 'succeeded', after: [parent] });
  });
});
