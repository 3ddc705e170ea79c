/**
 * `node --import tsx bench/pg-stale-plans.ts`: what a PostgreSQL store's write connection does with plans made while
 * its tables were empty, once they are not.
 *
 * A store (`warm`) runs its outcome statements ten times on empty tables, so that PostgreSQL makes and keeps their
 * generic plans; autovacuum is off on its tables, to hold the state it would be in until it next vacuumed or
 * analyzed them. Then 300,000 jobs are added and a second store (`fresh`, new connections) opens on the same schema.
 * Each store in turn claims and completes 20 batches of 100 (outcomes alone, then outcomes and claims), twice:
 * first as soon as the jobs are in (the warm store still has its old plans if its last discard of them, see
 * PLAN_REFRESH_MS in src/store/postgres/pool.ts, was less than 5 s before), then after a 5 s wait (it discards them
 * at its next statement). Prints each store's milliseconds for each. Uses the benchmark's server (`BENCH_PG_URL`, see
 * bench/systems/postgres-server.ts) and a schema of its own, dropped after.
 */
import pg from 'pg';
import { PostgresStore } from '../src/index.ts';
import type { ClaimedJob, Completion, NewJob } from '../src/store/job-store.ts';
import { CONNECTION_STRING, dropSchema } from './systems/postgres-server.ts';

const OWNER = 'bench-host:1:stale-plans';
const schema = `bench_stale_plans_${process.pid}`;
const newJob = (i: number): NewJob => ({ service: 'bench', method: 'noop', params: `{"json":${i}}`, runAt: 1, priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: 1 });
const ok = (j: ClaimedJob): Completion => ({ id: j.id, attempt: j.attempt, database: j.database, owner: OWNER, outcome: 'succeeded', result: null, at: Date.now() });
const claim = (store: PostgresStore) => store.claim({ owner: OWNER, limit: 100, now: Date.now(), isolated: 'skip' });

const admin = new pg.Client({ connectionString: CONNECTION_STRING });
await admin.connect();
const warm = await PostgresStore.open({ url: CONNECTION_STRING, schema });
let fresh: PostgresStore | undefined;
try {
  for (const table of ['jobs', 'finished_jobs', 'job_flow']) await admin.query(`ALTER TABLE "${schema}".${table} SET (autovacuum_enabled = false)`);
  for (let i = 0; i < 10; i++) {
    await warm.addJobs([newJob(i), newJob(i), newJob(i)]);
    await warm.complete((await warm.claim({ owner: OWNER, limit: 1, now: Date.now(), isolated: 'skip' })).map(ok));
    const [one] = await warm.claim({ owner: OWNER, limit: 1, now: Date.now(), isolated: 'skip' });
    const { claimed } = await warm.completeAndClaim([ok(one!)], { owner: OWNER, limit: 1, now: Date.now(), isolated: 'skip' });
    await warm.complete(claimed.map(ok));
  }
  for (let from = 0; from < 300_000; from += 10_000) await warm.addJobs(Array.from({ length: 10_000 }, (_, i) => newJob(from + i)));
  fresh = await PostgresStore.open({ url: CONNECTION_STRING, schema });
  const rounds: [string, PostgresStore][] = [['warm', warm], ['fresh', fresh], ['warm', warm], ['fresh', fresh]];
  for (const [round, [name, store]] of rounds.entries()) {
    // The second round of each starts once the warm store is due to discard its plans again.
    if (round === 2) await new Promise((resolve) => setTimeout(resolve, 5100));
    const batches: ClaimedJob[][] = [];
    for (let b = 0; b < 20; b++) batches.push(await claim(store));
    let started = performance.now();
    for (const batch of batches) await store.complete(batch.map(ok));
    const outcomes = performance.now() - started;
    let previous = (await claim(store)).map(ok);
    started = performance.now();
    for (let b = 0; b < 20; b++) previous = (await store.completeAndClaim(previous, { owner: OWNER, limit: 100, now: Date.now(), isolated: 'skip' })).claimed.map(ok);
    const both = performance.now() - started;
    await store.complete(previous);
    console.log(`${name}${round < 2 ? '' : ' again'}: 20 outcome batches of 100 in ${outcomes.toFixed(0)} ms; 20 outcomes-and-claims of 100 in ${both.toFixed(0)} ms`);
  }
} finally {
  await warm.close();
  await fresh?.close();
  await admin.end();
  await dropSchema(schema);
}
