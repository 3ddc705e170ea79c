/**
 * `node --import tsx bench/pg-job-flow-upgrade.ts`: how long PostgreSQL migration 0010 (the workflow and limit
 * columns moved to job_flow, `jobs` rebuilt) takes on a schema of 1,000,000 plain and 10,000 keyed waiting jobs, on
 * the benchmark's server (bench/systems/postgres-server.ts, `BENCH_PG_URL`). The scratch schema is dropped after.
 */
import pg from 'pg';
import { loadMigrations, migrate } from '../src/store/postgres/migrate.ts';
import { CONNECTION_STRING as url } from './systems/postgres-server.ts';
const schema = `upgrade_${process.pid}`;
const c = new pg.Client({ connectionString: url });
await c.connect();
await migrate(c, schema, schema, loadMigrations().filter((m) => m.version <= 9));
await c.query(`INSERT INTO "${schema}".jobs (priority, run_at, max_attempts, service, method, params, created_at)
  SELECT 0, i, 3, 'svc', 'run', '{"json":' || i || '}', i FROM generate_series(1, 1000000) i`);
await c.query(`INSERT INTO "${schema}".jobs (priority, run_at, max_attempts, service, method, params, created_at, concurrency_key, concurrency_limit)
  SELECT 0, i, 3, 'svc', 'run', '{"json":' || i || '}', i, 'k' || (i % 100), 1 FROM generate_series(1, 10000) i`);
await c.query(`VACUUM ANALYZE "${schema}".jobs`);
const t = performance.now();
await migrate(c, schema, schema);
console.log(`migration 0010 over 1,010,000 waiting jobs (10,000 keyed): ${Math.round(performance.now() - t)} ms`);
const { rows } = await c.query(`SELECT count(*) FILTER (WHERE flow) AS flow, count(*) AS all FROM "${schema}".jobs`);
console.log(rows[0]);
await c.query(`DROP SCHEMA "${schema}" CASCADE`);
await c.end();
