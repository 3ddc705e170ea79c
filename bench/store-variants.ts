/**
 * `node --import tsx bench/store-variants.ts VARIANT…`: claim + complete in batches of 100 on the real schema,
 * no worker, to compare ways of writing the hot path's SQL. Each variant drains N jobs (env `N`, default 100,000)
 * from a fresh database `REPS` times (default 5) and prints jobs per second of CPU time, sorted.
 *
 * Variants:
 * - `store`: the store itself (`completeAndClaim`), as the worker calls it;
 * - `returning`: session 2's way on today's schema, one `UPDATE … RETURNING` for the claim and `RETURNING id` for completions;
 * - `read-then-update`: the store's SQL now, run directly (rows read raw; a short last batch padded);
 * - `ids-only`: a claim returning only ids (not usable: the worker needs the job), a lower bound;
 * - `none`: nothing after the set-up, the baseline for instruction counts.
 *
 * Wall-clock figures on a shared 2-core machine move by ±20% from one run to the next; instruction counts do not.
 * For those, run one repetition under callgrind, counting only inside SQLite's steps, and subtract `none` (both
 * from the project folder):
 *
 *   N=20000 REPS=1 TMP_DIR=/dev/shm valgrind --tool=callgrind --callgrind-out-file=/dev/null \
 *     '--toggle-collect=sqlite3_step' node --import tsx bench/store-variants.ts store
 *
 * These repeat to within 0.1%. Counting inside better-sqlite3's calls (`'--toggle-collect=Statement::JS_*'`)
 * takes in the binding's work too, but also whatever garbage collection V8 runs inside them: ±3% between runs.
 *
 * `DDL="DROP INDEX …"` runs SQL on the database before the raw-SQL variants, to price an index.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/index.ts';
import type { Completion } from '../src/store/job-store.ts';

const N = Number(process.env.N ?? 100_000);
const REPS = Number(process.env.REPS ?? 5);
const BATCH = 100;
const OWNER = 'host.example:12345:abcdef12';
/** What the raw variants bind for the owner: the id the store gives the first owner it registers (migration 0008). */
const OWNER_ID = 1;
const NOW = 1_000_000;
const CLAIM = { owner: OWNER, now: NOW, limit: BATCH, isolated: 'skip' } as const;
const RAW_CLAIM = { owner: OWNER_ID, now: NOW, limit: BATCH };

async function freshDatabase(): Promise<{ path: string; dispose: () => void }> {
  const dir = mkdtempSync(join(process.env.TMP_DIR ?? tmpdir(), 'store-variants-'));
  const path = join(dir, 'jobs.db');
  const store = SqliteStore.open({ path });
  await store.addJobs(Array.from({ length: N }, (_, i) => ({
    service: 'bench', method: 'noop', params: `{"json":{"i":${i}}}`, priority: 0, runAt: 1, maxAttempts: 3, timeoutMs: null, createdAt: 1,
  })));
  await store.close();
  return { path, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One transaction: records the previous batch's successes, claims the next; returns the claimed ids. */
type Step = (previous: readonly number[]) => number[];

const SUCCESS_ROWS = `r(id, result, at) AS (VALUES ${Array.from({ length: BATCH }, () => '(?, ?, ?)').join(', ')})`;
const DUE = `SELECT id FROM jobs WHERE state = 0 AND run_at <= @now ORDER BY priority DESC, run_at, id LIMIT @limit`;
const LEASE = `UPDATE jobs SET state = 1, lease_owner = @owner, attempts = attempts + 1, started_at = @now WHERE id IN (${DUE})`;
const COMPLETE = `WITH ${SUCCESS_ROWS}
  UPDATE jobs SET state = 2, result = r.result, finished_at = r.at, lease_owner = NULL
    FROM r WHERE jobs.id = r.id AND +jobs.lease_owner = ? AND jobs.state = 1`;

/** A batch bound as the completion statements bind it; a short last batch is padded with rows that match nothing. */
function successValues(ids: readonly number[]): unknown[] {
  const values = new Array<unknown>(BATCH * 3 + 1).fill(null);
  ids.forEach((id, i) => {
    values[i * 3] = id;
    values[i * 3 + 2] = NOW;
  });
  values[BATCH * 3] = OWNER_ID;
  return values;
}

const rawVariants: Record<string, (db: Database.Database) => Step> = {
  none: () => () => [],
  returning: (db) => {
    const claim = db.prepare(`${LEASE} RETURNING id, target_id, params, attempts AS attempt, max_attempts AS maxAttempts, timeout_ms AS timeoutMs`);
    const complete = db.prepare(`${COMPLETE} RETURNING jobs.id`).pluck();
    return (previous) => {
      if (previous.length > 0) complete.all(successValues(previous));
      return (claim.all(RAW_CLAIM) as { id: number }[]).map((row) => row.id);
    };
  },
  'read-then-update': (db) => {
    const due = db.prepare(`SELECT id, target_id, params, attempts + 1, max_attempts, timeout_ms FROM jobs
      WHERE state = 0 AND run_at <= @now ORDER BY priority DESC, run_at, id LIMIT @limit`).raw();
    const lease = db.prepare(LEASE);
    const refused = db.prepare(`WITH ${SUCCESS_ROWS} SELECT r.id FROM r LEFT JOIN jobs ON jobs.id = r.id
      WHERE r.id IS NOT NULL AND (jobs.id IS NULL OR jobs.state <> 1 OR jobs.lease_owner IS NOT ?)`).pluck();
    const complete = db.prepare(COMPLETE);
    return (previous) => {
      if (previous.length > 0) {
        const values = successValues(previous);
        refused.all(values);
        complete.run(values);
      }
      const rows = due.all({ now: NOW, limit: BATCH }) as unknown[][];
      lease.run(RAW_CLAIM);
      return rows.map((row) => row[0] as number);
    };
  },
  'ids-only': (db) => {
    const claim = db.prepare(`${LEASE} RETURNING id`).pluck();
    const complete = db.prepare(COMPLETE);
    return (previous) => {
      if (previous.length > 0) complete.run(successValues(previous));
      return claim.all(RAW_CLAIM) as number[];
    };
  },
};

/** Jobs per second of this process's CPU time, for draining the database at `path` one batch per transaction. */
async function drain(name: string, path: string): Promise<number> {
  if (name === 'store') {
    const store = SqliteStore.open({ path });
    const cpu = process.cpuUsage();
    let done = 0;
    let completions: Completion[] = [];
    for (;;) {
      const { claimed } = await store.completeAndClaim(completions, CLAIM);
      if (claimed.length === 0) break;
      done += claimed.length;
      completions = claimed.map((job) => ({ id: job.id, attempt: job.attempt, database: job.database, owner: OWNER, outcome: 'succeeded', result: 'null', at: NOW }));
    }
    const used = process.cpuUsage(cpu);
    await store.close();
    return done / ((used.user + used.system) / 1e6);
  }
  const variant = rawVariants[name];
  if (variant === undefined) throw new Error(`unknown variant "${name}"; the variants are store, ${Object.keys(rawVariants).join(', ')}`);
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  if (process.env.DDL !== undefined) db.exec(process.env.DDL);
  const step = db.transaction(variant(db));
  const cpu = process.cpuUsage();
  let done = 0;
  for (let claimed = step.immediate([]); claimed.length > 0; claimed = step.immediate(claimed)) done += claimed.length;
  const used = process.cpuUsage(cpu);
  db.close();
  return done / ((used.user + used.system) / 1e6);
}

for (const name of process.argv.slice(2)) {
  const rates: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const { path, dispose } = await freshDatabase();
    rates.push(await drain(name, path));
    dispose();
  }
  console.log(name.padEnd(18), rates.sort((a, b) => a - b).map((rate) => Math.round(rate).toLocaleString('en-US')).join('  '));
}
