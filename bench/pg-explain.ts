/**
 * `node --import tsx bench/pg-explain.ts [WAITING] [outcomes|full|defaults]`: EXPLAIN (ANALYZE, BUFFERS) of the statement
 * a PostgreSQL worker sends per batch, with WAITING jobs (default 1,000,000) in the table: the outcomes of 100 jobs
 * with the plain claim of the next 100 (default), the same with the full claim (ClaimPaths), or applyDefaults for 100 claimed jobs. Run in a transaction that is
 * rolled back, three times; the third plan is printed.
 */
import pg from 'pg';
import type { NewJob } from '../src/store/job-store.ts';
import { clientConfig } from '../src/store/postgres/pool.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import { outcomesAndClaimStatements } from '../src/store/postgres/record-outcomes.ts';
import { schemaOf } from '../src/store/postgres/schema.ts';
import { takeBackStatements } from '../src/store/postgres/take-back.ts';

const url = process.env.BENCH_PG_URL ?? 'postgres://root@127.0.0.1:5432/test';
const schema = `bench_explain_${process.pid}`;
const waiting = Number(process.argv[2] ?? 1_000_000);
const which = process.argv[3] ?? 'outcomes';
const store = await PostgresStore.open({ url, schema });
// The store's own connection settings (enable_bitmapscan=off included).
const client = new pg.Client(clientConfig({ url, poolSize: 1, connectTimeoutMs: 5000, queryTimeoutMs: 600_000, description: '' }));
await client.connect();
try {
  const job = (i: number): NewJob => ({ service: 'bench', method: 'noop', params: `{"json":{"i":${i}}}`, runAt: Date.now(), priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: Date.now() });
  for (let i = 0; i < waiting; i += 10_000) await store.addJobs(Array.from({ length: Math.min(10_000, waiting - i) }, (_, k) => job(i + k)));
  const owner = 'bench-explain';
  const { claimed } = await store.completeAndClaim([], { owner, limit: 100, now: Date.now(), isolated: 'skip' });
  const s = schemaOf(schema);
  const sql = which === 'defaults' ? takeBackStatements(s).applyDefaults : outcomesAndClaimStatements(s)[which === 'full' ? 'full' : 'plain'].skip;
  const values = which === 'defaults'
    ? [owner, claimed.map((j) => j.id), claimed.map((j) => j.attempt), claimed.map((j) => j.database), claimed.map(() => 3), claimed.map(() => null)]
    : [claimed.map((j) => j.id), claimed.map((j) => j.attempt), claimed.map(() => owner), claimed.map((j) => j.database), claimed.map(() => 0),
      claimed.map(() => null), claimed.map(() => null), claimed.map(() => null), claimed.map(() => false), owner, 100,
      ['bench'], ['noop'], [3], [null]];
  for (let i = 0; i < 3; i++) {
    await client.query('BEGIN');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, values);
    await client.query('ROLLBACK');
    if (i === 2) console.log(rows.map((row) => row['QUERY PLAN']).join('\n'));
  }
} finally {
  await store.close();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}
