/**
 * `node --import tsx bench/limits-claim.ts [sqlite|postgres]`: what per-key concurrency costs the claim of
 * other jobs (issue 18). Claims and completes 10,000 plain jobs in batches of 100 through the store
 * (`completeAndClaim`, as the worker does), twice on fresh databases:
 *
 * - alone;
 * - behind 100,000 older jobs on one concurrency key of limit 1, one of which runs the whole time: added while
 *   it runs (each add parks its job), and added before it runs (the first claim after parks them: timed apart).
 *
 * Prints jobs per second of wall time for each, and their ratio. On PostgreSQL each run uses a schema of its own
 * on the benchmark's server (`BENCH_PG_URL`, see bench/systems/postgres-server.ts), dropped after.
 */
import type { ClaimedJob, JobStore, NewJob } from '../src/store/job-store.ts';
import { drainAll, openScratchStore } from './scratch-store.ts';

const PLAIN = Number(process.env.PLAIN ?? 10_000);
const BEHIND = 100_000;
const BATCH = 100;
const OWNER = 'bench-host:1:limits';
const kind = process.argv[2] ?? 'sqlite';

const newJob = (i: number, extra: Partial<NewJob> = {}): NewJob =>
  ({ service: 'bench', method: 'noop', params: `{"json":${i}}`, runAt: 1, priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: 1, ...extra });


/** Drains every due job but the key's holder; returns plain jobs claimed per second, after `previous` (already claimed). */
async function drain(store: JobStore, holder: ClaimedJob | undefined, first: ClaimedJob[] = []): Promise<number> {
  const started = performance.now();
  const done = await drainAll(store, OWNER, BATCH, first);
  const seconds = (performance.now() - started) / 1000;
  if (done !== PLAIN) throw new Error(`claimed ${done} jobs, expected the ${PLAIN} plain ones${holder === undefined ? '' : ' (the keyed ones must wait for the holder)'}`);
  return done / seconds;
}

/** The first claim behind the pile-up: timed apart from the drain after it. */
let firstClaimMs = Number.NaN;

/**
 * `pileUp`: none; `busy`, the key's first job is claimed (and runs the whole time) before the other 99,999 are
 * added, so each add finds the key full and parks its job at once; `idle`, all 100,000 are added, then the first is
 * claimed, and the first claim after that parks the rest.
 */
async function run(pileUp: 'none' | 'busy' | 'idle'): Promise<number> {
  const { store, dispose } = await openScratchStore(kind, 'limits');
  try {
    let holder: ClaimedJob | undefined;
    const keyed = (from: number, n: number) => Array.from({ length: n }, (_, i) => newJob(from + i, { concurrency: { key: 'zone', limit: 1 } }));
    if (pileUp === 'busy') {
      await store.addJobs(keyed(0, 1));
      [holder] = await store.claim({ owner: OWNER, limit: 1, now: Date.now(), isolated: 'skip' });
    }
    if (pileUp !== 'none') {
      for (let from = pileUp === 'busy' ? 1 : 0; from < BEHIND; from += 10_000) await store.addJobs(keyed(from, Math.min(10_000, BEHIND - from)));
    }
    if (pileUp === 'idle') [holder] = await store.claim({ owner: OWNER, limit: 1, now: Date.now(), isolated: 'skip' });
    await store.addJobs(Array.from({ length: PLAIN }, (_, i) => newJob(i, { runAt: 2 })));
    const started = performance.now();
    const first = await store.claim({ owner: OWNER, limit: BATCH, now: Date.now(), isolated: 'skip' });
    if (pileUp !== 'none') firstClaimMs = performance.now() - started;
    return await drain(store, holder, first);
  } finally {
    await dispose();
  }
}

const format = (n: number): string => Math.round(n).toLocaleString('en-US');
const alone = await run('none');
if (process.env.ONLY_ALONE !== undefined) {
  console.log(`${kind}: ${format(alone)} jobs/s alone`);
} else {
  for (const pileUp of ['busy', 'idle'] as const) {
    const behind = await run(pileUp);
    const how = pileUp === 'busy' ? 'added while the key runs a job (parked at their adds)' : 'added while the key was idle';
    console.log(`${kind}: ${format(alone)} jobs/s alone; behind ${BEHIND.toLocaleString('en-US')} jobs on one key, ${how}: the first claim ${firstClaimMs.toFixed(0)} ms, then ${format(behind)} jobs/s (${(alone / behind).toFixed(2)}× the time alone)`);
  }
}
