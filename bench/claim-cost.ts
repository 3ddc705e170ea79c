/**
 * `node --import tsx bench/claim-cost.ts sqlite|postgres [JOBS] [add]`: what a plain job costs the store, per job,
 * in CPU rather than wall time (this machine's wall time swings ±20% between runs; CPU time far less). Adds JOBS
 * plain jobs (default 20,000), then claims and completes them in batches of 100 through `completeAndClaim`, as the
 * worker does, and prints CPU microseconds per job of the claim-and-complete part: this process's, and on
 * PostgreSQL the server's (every `postgres` process's CPU time read from /proc, so only with a server on this
 * machine). With `add`, stops after adding.
 *
 * For SQLite the steadiest figure is instructions inside SQLite (deterministic), under valgrind:
 *
 *     valgrind --tool=callgrind --toggle-collect=sqlite3_step --callgrind-out-file=/tmp/cg \
 *       node --import tsx bench/claim-cost.ts sqlite 10000 [add]
 *
 * prints `Collected : N`; claim-and-complete per job = (N without `add` − N with `add`) / JOBS. Issue 18's
 * "jobs without these options keep today's claim cost" is measured this way against fac6b18 (bench/RESULTS.md).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresStore, SqliteStore } from '../src/index.ts';
import type { Completion, JobStore, NewJob } from '../src/store/job-store.ts';

const kind = process.argv[2] ?? 'sqlite';
const JOBS = Number(process.argv[3] ?? 20_000);
const addOnly = process.argv[4] === 'add';
const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const OWNER = 'bench-host:1:claim-cost';
const BATCH = 100;

const newJob = (i: number): NewJob => ({ service: 'bench', method: 'noop', params: `{"json":${i}}`, runAt: 1, priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: 1 });

/** CPU milliseconds used so far by every process named `postgres` on this machine (ticks of 10 ms). */
function serverCpuMs(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (!stat.includes('(postgres)')) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
  }
  return ticks * 10;
}

async function open(): Promise<{ store: JobStore; dispose: () => Promise<void> }> {
  if (kind === 'postgres') {
    const schema = `bench_claim_cost_${process.pid}`;
    const store = await PostgresStore.open({ url: PG_URL, schema });
    return {
      store,
      dispose: async () => {
        await store.close();
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        await client.query(`DROP SCHEMA "${schema}" CASCADE`);
        await client.end();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'claim-cost-'));
  const store = SqliteStore.open({ path: join(dir, 'jobs.db') });
  return { store, dispose: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
}

const { store, dispose } = await open();
try {
  for (let from = 0; from < JOBS; from += 5_000) await store.addJobs(Array.from({ length: Math.min(5_000, JOBS - from) }, (_, i) => newJob(from + i)));
  if (!addOnly) {
    const server = kind === 'postgres' ? serverCpuMs() : 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    let done = 0;
    let previous: Completion[] = [];
    for (;;) {
      const { claimed } = await store.completeAndClaim(previous, { owner: OWNER, limit: BATCH, now: Date.now(), isolated: 'skip' });
      if (claimed.length === 0) break;
      done += claimed.length;
      previous = claimed.map((job) => ({ id: job.id, attempt: job.attempt, database: job.database, owner: OWNER, outcome: 'succeeded', result: null, at: Date.now() }));
    }
    await store.complete(previous);
    const wall = performance.now() - started;
    const used = process.cpuUsage(cpu);
    if (done !== JOBS) throw new Error(`claimed ${done} jobs of ${JOBS}`);
    const perJob = (ms: number): string => `${((ms * 1000) / JOBS).toFixed(1)} µs/job`;
    const serverPart = kind === 'postgres' ? `server CPU ${perJob(serverCpuMs() - server)}, ` : '';
    console.log(`${kind}, ${JOBS} plain jobs claimed and completed: ${serverPart}this process's CPU ${perJob((used.user + used.system) / 1000)}, wall ${perJob(wall)}`);
  }
} finally {
  await dispose();
}
