/**
 * `node --import tsx bench/limits-claim.ts [sqlite|postgres]`: what per-key concurrency costs the claim of
 * other jobs (issue 18: "a key with 100,000 waiting jobs behind it must not slow claims of other jobs").
 *
 * Four databases are set up, then kept open side by side:
 *
 * - `alone`: nothing else in it;
 * - `later`: 100,000 plain jobs due a day later: a table of the same size without a key, which tells what the
 *   key costs apart from what a bigger table costs;
 * - `busy`: 100,000 jobs on one concurrency key of limit 1, added while its first job runs (it runs the whole
 *   time), so each add parks its job;
 * - `idle`: the same 100,000 added before the first of them runs; the first claim after parks the rest (timed
 *   apart, once).
 *
 * Then, ROUNDS + 1 times (default 5), each database in turn gets 10,000 plain jobs, claimed and completed in
 * batches of 100 through the store (`completeAndClaim`, as the worker does). Turns are interleaved so that drift on
 * the machine (caches, vacuum, other load) falls on all four alike; the first round warms up and is left out, but
 * its first claims are shown (the idle pile-up's is the claim that parks it). Prints for each the median jobs per
 * second of wall time, the ratios of those times, and the median CPU per job: this process's and, on PostgreSQL,
 * the server's (every `postgres` process on the machine, autovacuum included: a quiet machine is assumed). On PostgreSQL each database is a schema of its own on the benchmark's server
 * (`BENCH_PG_URL`, see bench/systems/postgres-server.ts), dropped after.
 */
import type { ClaimedJob, JobStore, NewJob } from '../src/store/job-store.ts';
import { drainAll, openScratchStore } from './scratch-store.ts';
import { serverCpuMs } from './server-cpu.ts';

const PLAIN = Number(process.env.PLAIN ?? 10_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const BEHIND = 100_000;
const BATCH = 100;
const OWNER = 'bench-host:1:limits';
const kind = process.argv[2] ?? 'sqlite';

type Setup = 'alone' | 'later' | 'busy' | 'idle';

const newJob = (i: number, extra: Partial<NewJob> = {}): NewJob =>
  ({ service: 'bench', method: 'noop', params: `{"json":${i}}`, runAt: 1, priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: 1, ...extra });

async function addInChunks(store: JobStore, from: number, to: number, job: (i: number) => NewJob): Promise<void> {
  for (let start = from; start < to; start += 10_000) {
    await store.addJobs(Array.from({ length: Math.min(10_000, to - start) }, (_, i) => job(start + i)));
  }
}

/** Sets `store` up as `setup` says; returns the key's running job, if it has one (never completed). */
async function setUp(store: JobStore, setup: Setup): Promise<ClaimedJob | undefined> {
  const keyed = (i: number): NewJob => newJob(i, { concurrency: { key: 'zone', limit: 1 } });
  const claimOne = async () => (await store.claim({ owner: OWNER, limit: 1, now: Date.now(), isolated: 'skip' }))[0];
  if (setup === 'later') {
    const tomorrow = Date.now() + 86_400_000;
    await addInChunks(store, 0, BEHIND, (i) => newJob(i, { runAt: tomorrow }));
  } else if (setup === 'busy') {
    await store.addJobs([keyed(0)]);
    const holder = await claimOne();
    await addInChunks(store, 1, BEHIND, keyed);
    return holder;
  } else if (setup === 'idle') {
    await addInChunks(store, 0, BEHIND, keyed);
    return claimOne();
  }
  return undefined;
}

interface Turn {
  perSecond: number;
  firstMs: number;
  /** CPU microseconds per job: this process's, and every `postgres` process's. */
  clientUs: number;
  serverUs: number;
}

/** One turn: adds PLAIN plain jobs, then claims and completes them all. */
async function turn(store: JobStore, round: number): Promise<Turn> {
  await store.addJobs(Array.from({ length: PLAIN }, (_, i) => newJob(round * PLAIN + i, { runAt: 2 })));
  const server = kind === 'postgres' ? serverCpuMs() : 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const first = await store.claim({ owner: OWNER, limit: BATCH, now: Date.now(), isolated: 'skip' });
  const firstMs = performance.now() - started;
  const done = await drainAll(store, OWNER, BATCH, first);
  const seconds = (performance.now() - started) / 1000;
  // The keyed jobs must wait for the key's running job: only the plain ones are claimed.
  if (done !== PLAIN) throw new Error(`claimed ${done} jobs, expected the ${PLAIN} plain ones`);
  const used = process.cpuUsage(cpu);
  return {
    perSecond: done / seconds, firstMs,
    clientUs: (used.user + used.system) / done,
    serverUs: kind === 'postgres' ? ((serverCpuMs() - server) * 1000) / done : 0,
  };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const format = (n: number): string => Math.round(n).toLocaleString('en-US');

const setups: Setup[] = process.env.ONLY_ALONE !== undefined ? ['alone'] : ['alone', 'later', 'busy', 'idle'];
const opened = new Map<Setup, { store: JobStore; dispose: () => Promise<void> }>();
const turns = new Map<Setup, Turn[]>(setups.map((setup) => [setup, []]));
const warmUps = new Map<Setup, Turn>();
try {
  for (const setup of setups) {
    const scratch = await openScratchStore(kind, `limits_${setup}`);
    opened.set(setup, scratch);
    const started = performance.now();
    await setUp(scratch.store, setup);
    if (setup !== 'alone') console.log(`${kind}: ${setup}: set up in ${format(performance.now() - started)} ms`);
  }
  for (let round = 0; round <= ROUNDS; round++) {
    for (const setup of setups) {
      const done = await turn(opened.get(setup)!.store, round);
      if (round === 0) warmUps.set(setup, done);
      else turns.get(setup)!.push(done);
    }
  }
} finally {
  for (const { dispose } of opened.values()) await dispose();
}

const rate = (setup: Setup): number => median(turns.get(setup)!.map((t) => t.perSecond));
const alone = rate('alone');
const later = setups.includes('later') ? rate('later') : Number.NaN;
for (const setup of setups) {
  const all = turns.get(setup)!;
  const cpu = `CPU per job ${median(all.map((t) => t.clientUs)).toFixed(1)} µs here${kind === 'postgres' ? `, ${median(all.map((t) => t.serverUs)).toFixed(1)} µs server` : ''}`;
  const ratios = setup === 'alone' ? '' : `, ${(alone / rate(setup)).toFixed(2)}× the time alone${setup === 'later' ? '' : `, ${(later / rate(setup)).toFixed(2)}× beside the later jobs`}`;
  const claims = [warmUps.get(setup)!, ...all].map((t) => t.firstMs.toFixed(0)).join(', ');
  console.log(`${kind}: ${setup}: ${format(rate(setup))} jobs/s (${all.map((t) => format(t.perSecond)).join(', ')})${ratios}; ${cpu}; first claims ${claims} ms (the first in warm-up)`);
}
