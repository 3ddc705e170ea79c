/**
 * `node --import tsx bench/pg-rounds.ts [WAITING] [defaults]`: where a PostgreSQL drain's time goes, without the
 * worker. Adds WAITING jobs (default 50,000) to a scratch schema, then runs 200 rounds of what the worker sends per
 * batch: completeAndClaim (the outcomes of the last 100 and a claim of 100, one statement on the pipelined
 * connection) and, with `defaults`, applyDefaults for the claimed jobs (what the worker sends when jobs were added
 * without attempts or a timeout, as `addMany` without options adds them). Prints the time per round of each.
 */
import pg from 'pg';
import type { Completion, NewJob } from '../src/store/job-store.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';

const url = process.env.BENCH_PG_URL ?? 'postgres://root@127.0.0.1:5432/test';
const schema = `bench_rounds_${process.pid}`;
const waiting = Number(process.argv[2] ?? 50_000);
const withDefaults = process.argv[3] === 'defaults';
const ROUNDS = 200;
const store = await PostgresStore.open({ url, schema });
try {
  const job = (i: number): NewJob => ({ service: 'bench', method: 'noop', params: `{"json":{"i":${i}}}`, runAt: Date.now(), priority: 0, maxAttempts: 0, timeoutMs: null, createdAt: Date.now() });
  let started = performance.now();
  for (let i = 0; i < waiting; i += 10_000) await store.addJobs(Array.from({ length: Math.min(10_000, waiting - i) }, (_, k) => job(i + k)));
  console.log(`bulk add: ${Math.round(waiting / ((performance.now() - started) / 1000))} jobs/s`);
  const owner = 'bench-rounds';
  let done: Completion[] = [];
  const ms = { claim: [] as number[], defaults: [] as number[] };
  let total = 0;
  started = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    const a = performance.now();
    const { claimed } = await store.completeAndClaim(done, { owner, limit: 100, now: Date.now(), isolated: 'skip' });
    const b = performance.now();
    if (withDefaults) await store.applyDefaults(owner, claimed.map((j) => ({ id: j.id, attempt: j.attempt, database: j.database, maxAttempts: 3, timeoutMs: null })));
    ms.claim.push(b - a);
    ms.defaults.push(performance.now() - b);
    total += claimed.length;
    done = claimed.map((j) => ({ id: j.id, attempt: j.attempt, database: j.database, owner, at: Date.now(), outcome: 'succeeded' as const, result: null }));
  }
  const median = (values: number[]): string => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!.toFixed(2);
  console.log(`${Math.round(total / ((performance.now() - started) / 1000))} jobs/s; per round, median ms: completeAndClaim ${median(ms.claim)}${withDefaults ? `, applyDefaults ${median(ms.defaults)}` : ''}`);
} finally {
  await store.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}
