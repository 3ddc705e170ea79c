/**
 * `node --import tsx bench/claim-cost.ts sqlite|postgres [JOBS] [add] [flow|behind|idle|later]`: what a plain job costs the store, per job,
 * in CPU rather than wall time (this machine's wall time swings ±20% between runs; CPU time far less). Adds JOBS
 * plain jobs (default 20,000), then claims and completes them in batches of 100 through `completeAndClaim`, as the
 * worker does, and prints CPU microseconds per job of the claim-and-complete part: this process's, and on
 * PostgreSQL the server's (every `postgres` process's CPU time read from /proc, so only with a server on this
 * machine). With `add`, stops after adding. With `flow`, the database has run one job with a concurrency key first,
 * so its workflow and limit bookkeeping is in use (on SQLite, the file's flag and its statements; on PostgreSQL,
 * the row triggers): what a plain job costs where other jobs use these options. With `behind`, 100,000 jobs wait on
 * one concurrency key of limit 1 whose first job runs the whole time (each parked at its add): issue 18's "a key
 * with 100,000 waiting jobs behind it must not slow claims of other jobs", counted. With `idle`, the same 100,000
 * are added while nothing of the key runs, and then its first job runs the whole time. With `later`, as many plain jobs
 * wait for a time a day away instead: what a table that size costs by itself. BEHIND (environment) sets how many
 * jobs those three add (default 100,000): fewer make a run under valgrind bearable.
 *
 * For SQLite the steadiest figure is instructions inside SQLite (deterministic), under valgrind:
 *
 *     valgrind --tool=callgrind --toggle-collect=sqlite3_step --callgrind-out-file=/tmp/cg \
 *       node --import tsx bench/claim-cost.ts sqlite 10000 [add]
 *
 * prints `Collected : N`; claim-and-complete per job = (N without `add` − N with `add`) / JOBS. Issue 18's
 * "jobs without these options keep today's claim cost" is measured this way against fac6b18 (bench/RESULTS.md).
 */
import { serverCpuMs } from './server-cpu.ts';
import type { NewJob } from '../src/store/job-store.ts';
import { drainAll, openScratchStore } from './scratch-store.ts';

const kind = process.argv[2] ?? 'sqlite';
const JOBS = Number(process.argv[3] ?? 20_000);
const addOnly = process.argv.slice(4).includes('add');
const behind = process.argv.slice(4).includes('behind');
const later = process.argv.slice(4).includes('later');
const idle = process.argv.slice(4).includes('idle');
const flow = behind || process.argv.slice(4).includes('flow');
const OWNER = 'bench-host:1:claim-cost';
const BEHIND = Number(process.env.BEHIND ?? 100_000);
const BATCH = 100;

const newJob = (i: number): NewJob => ({ service: 'bench', method: 'noop', params: `{"json":${i}}`, runAt: 1, priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: 1 });

const { store, dispose } = await openScratchStore(kind, 'claim_cost');
try {
  if (idle) {
    // The pile-up is added while nothing of the key runs; then its first job runs on (never completed).
    for (let from = 0; from < BEHIND; from += 10_000) {
      await store.addJobs(Array.from({ length: Math.min(10_000, BEHIND - from) }, (_, i) => ({ ...newJob(-1 - from - i), concurrency: { key: 'bench', limit: 1 } })));
    }
    const [keyed] = await store.claim({ owner: OWNER, limit: 1, now: Date.now(), isolated: 'skip' });
    if (keyed === undefined) throw new Error('the keyed job was not claimed');
  } else if (flow) {
    await store.addJobs([{ ...newJob(-1), concurrency: { key: 'bench', limit: 1 } }]);
    const [keyed] = await store.claim({ owner: OWNER, limit: 1, now: Date.now(), isolated: 'skip' });
    if (keyed === undefined) throw new Error('the keyed job was not claimed');
    if (behind) {
      // The first keyed job runs on (never completed); the rest pile up behind it.
      for (let from = 0; from < BEHIND - 1; from += 10_000) {
        await store.addJobs(Array.from({ length: Math.min(10_000, BEHIND - 1 - from) }, (_, i) => ({ ...newJob(-2 - from - i), concurrency: { key: 'bench', limit: 1 } })));
      }
    } else {
      await store.complete([{ id: keyed.id, attempt: keyed.attempt, database: keyed.database, owner: OWNER, outcome: 'succeeded', result: null, at: Date.now() }]);
    }
  }
  if (later) {
    const tomorrow = Date.now() + 86_400_000;
    for (let from = 0; from < BEHIND; from += 10_000) await store.addJobs(Array.from({ length: Math.min(10_000, BEHIND - from) }, (_, i) => ({ ...newJob(-1 - from - i), runAt: tomorrow })));
  }
  for (let from = 0; from < JOBS; from += 5_000) await store.addJobs(Array.from({ length: Math.min(5_000, JOBS - from) }, (_, i) => newJob(from + i)));
  if (!addOnly) {
    const server = kind === 'postgres' ? serverCpuMs() : 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    const done = await drainAll(store, OWNER, BATCH);
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
