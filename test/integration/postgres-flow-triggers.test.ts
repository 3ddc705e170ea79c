/**
 * The row triggers of waiting jobs and concurrency keys on PostgreSQL exist
 * only once the schema uses either (migrations 0009 and 0010): a schema of plain jobs
 * never pays for them, the first job that needs them makes them before it
 * exists, and a schema migrated from before keeps them if it used either.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { NewJob } from '../../src/store/job-store.ts';
import { loadMigrations, migrate } from '../../src/store/postgres/migrate.ts';
import { adminQuery, freshSchema, PGTEST_URL, postgresSkipReason, tempPostgresStore } from '../helpers/postgres.ts';

const FLOW_TRIGGERS = ['finished_jobs_settle_dependants', 'jobs_flow_ended', 'jobs_flow_started', 'jobs_flow_stopped'];
/** As versions 4 to 8 named them. */
const FLOW_TRIGGERS_V8 = ['finished_jobs_settle_dependants', 'jobs_concurrency_ended', 'jobs_concurrency_started', 'jobs_concurrency_stopped'];

const job = (extra: Partial<NewJob> = {}): NewJob =>
  ({ service: 'svc', method: 'run', params: '{"json":null}', runAt: 0, priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: Date.now(), ...extra });

async function triggersOf(schema: string): Promise<string[]> {
  const { rows } = await adminQuery(
    `SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND NOT t.tgisinternal ORDER BY t.tgname`, [schema]);
  return rows.map((row: { tgname: string }) => row.tgname);
}

/** A schema migrated up to `version` only, as an older scheduler left it. */
async function schemaAt(version: number): Promise<string> {
  const schema = freshSchema();
  const client = new pg.Client({ connectionString: PGTEST_URL });
  await client.connect();
  try {
    await migrate(client, schema, schema, loadMigrations().filter((m) => m.version <= version));
  } finally {
    await client.end();
  }
  return schema;
}

describe.skipIf(postgresSkipReason !== null)('the triggers of waiting jobs and concurrency keys on PostgreSQL', () => {
  it('are not there for plain jobs, and are made by the first job with a concurrency key', async () => {
    const store = await tempPostgresStore();
    await store.addJobs([job(), job({ priority: 5 })]);
    await store.addJob(job());
    expect(await triggersOf(store.schema)).toEqual([]);
    await store.addJob(job({ concurrency: { key: 'zone', limit: 1 } }));
    expect(await triggersOf(store.schema)).toEqual(FLOW_TRIGGERS);
    // And they work: the keyed job's start and end move its key's count.
    const claimed = await store.claim({ owner: 'host:1:w', limit: 10, now: Date.now(), isolated: 'skip' });
    expect(claimed).toHaveLength(4);
    expect((await store.concurrencyKeys(10)).find((k) => k.key === 'zone')?.running).toBe(1);
    await store.complete(claimed.map((j) => ({ id: j.id, attempt: j.attempt, database: j.database, owner: 'host:1:w', outcome: 'succeeded', result: null, at: Date.now() })));
    expect((await store.concurrencyKeys(10)).find((k) => k.key === 'zone')).toBeUndefined();
  });

  it('are made by the first job that waits for another, in a call with plain jobs', async () => {
    const store = await tempPostgresStore();
    const { ids } = await store.addJobs([job(), job({ after: [{ entry: 0 }] })]);
    expect(await triggersOf(store.schema)).toEqual(FLOW_TRIGGERS);
    expect(ids).toHaveLength(2);
  });

  it('are made once when two processes add their first keyed jobs together', async () => {
    const one = await tempPostgresStore();
    const two = await tempPostgresStore({ schema: one.schema });
    const adds = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? one : two).addJob(job({ concurrency: { key: `k${i % 3}`, limit: 1 } }))));
    expect(adds.filter((a) => a.status === 'rejected')).toEqual([]);
    expect(await triggersOf(one.schema)).toEqual(FLOW_TRIGGERS);
  });

  it('stay in a schema that used concurrency keys before the upgrade, and go from one that did not', async () => {
    const keyed = await schemaAt(8);
    const plain = await schemaAt(8);
    expect(await triggersOf(keyed)).toEqual(FLOW_TRIGGERS_V8); // migrations 0003 and 0004 made them for every schema
    // A keyed job as version 8's add left it: the key's row, then the job.
    await adminQuery(`INSERT INTO "${keyed}".concurrency_keys (key) VALUES ('zone')`);
    await adminQuery(`INSERT INTO "${keyed}".jobs (priority, run_at, max_attempts, service, method, params, created_at, concurrency_key, concurrency_limit)
                      VALUES (0, 0, 3, 'svc', 'run', '{"json":null}', 0, 'zone', 1)`);
    await adminQuery(`INSERT INTO "${plain}".jobs (priority, run_at, max_attempts, service, method, params, created_at)
                      VALUES (0, 0, 3, 'svc', 'run', '{"json":null}', 0)`);
    const upgraded = await tempPostgresStore({ schema: keyed }); // opening migrates
    await tempPostgresStore({ schema: plain });
    expect(await triggersOf(keyed)).toEqual(FLOW_TRIGGERS);
    expect(await triggersOf(plain)).toEqual([]);
    // The kept ones still count the key's running job, and let go of it when it ends.
    const [claimed] = await upgraded.claim({ owner: 'host:1:w', limit: 1, now: Date.now(), isolated: 'skip' });
    expect((await upgraded.concurrencyKeys(10)).find((k) => k.key === 'zone')?.running).toBe(1);
    await upgraded.complete([{ id: claimed!.id, attempt: claimed!.attempt, database: claimed!.database, owner: 'host:1:w', outcome: 'succeeded', result: null, at: Date.now() }]);
    expect((await upgraded.concurrencyKeys(10)).find((k) => k.key === 'zone')).toBeUndefined();
  });
});
