import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import type { Completion, NewJob } from '../../src/store/job-store.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import type { BenchContext, BenchQueue, BenchSystem, Payload } from './types.ts';

/** As graphile.ts: database `test` as root over TCP (trust auth here); `BENCH_PG_URL` overrides it. */
const CONNECTION_STRING = process.env.BENCH_PG_URL ?? 'postgres://root@127.0.0.1:5432/test';

function schemaOf(context: BenchContext): string {
  return `bench_ours_${context.id.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

const newJob = (payload: Payload, runAt = Date.now()): NewJob =>
  ({ service: 'bench', method: 'noop', params: JSON.stringify(payload), runAt, priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now() });

/**
 * This project's PostgreSQL store. Until the worker runs on JobStore contract
 * v2 (another branch), the worker side here is the store's own step in a
 * loop, as the worker drives it: complete what finished and claim as many as
 * `concurrency` in one transaction (completeAndClaim), woken by onChange
 * (LISTEN/NOTIFY) and a timer for the next due job. It measures the store and
 * its wake-ups, not the worker's own costs (serialization, supervision).
 */
export const oursPostgres: BenchSystem = {
  name: 'amsoil-scheduler (PostgreSQL store, store loop)',
  store: 'PostgreSQL',
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 100),
  async unavailable() {
    const client = new pg.Client({ connectionString: CONNECTION_STRING, connectionTimeoutMillis: 2000 });
    client.on('error', () => {});
    try {
      await client.connect();
      return null;
    } catch (error) {
      return `PostgreSQL is not reachable at ${CONNECTION_STRING} (${(error as Error).message})`;
    } finally {
      await client.end().catch(() => {});
    }
  },
  async open(context: BenchContext): Promise<BenchQueue> {
    const store = await PostgresStore.open({ url: CONNECTION_STRING, schema: schemaOf(context) });
    let stopped = false;
    let loop: Promise<void> | undefined;
    return {
      async add(payload, runAt) {
        await store.addJob(newJob(payload, runAt?.getTime()));
      },
      async addBulk(payloads) {
        await store.addJobs(payloads.map((payload) => newJob(payload)));
      },
      async work(handler, concurrency) {
        const owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
        let dirty = true;
        let wake: (() => void) | undefined;
        store.onChange(() => {
          dirty = true;
          wake?.();
        });
        loop = (async () => {
          let done: Completion[] = [];
          while (!stopped) {
            if (!dirty && done.length === 0) {
              const next = await store.nextJobAt();
              const wait = next === null ? 60_000 : Math.max(0, next - Date.now());
              await new Promise<void>((resolve) => {
                const timer = setTimeout(resolve, wait);
                wake = () => { clearTimeout(timer); resolve(); };
                if (dirty || stopped) wake();
              });
              wake = undefined;
            }
            dirty = false;
            const { claimed } = await store.completeAndClaim(done, { owner, limit: concurrency, now: Date.now(), isolated: 'skip' });
            done = [];
            for (const job of claimed) {
              handler(JSON.parse(job.params) as Payload);
              done.push({ id: job.id, attempt: job.attempt, database: job.database, owner, at: Date.now(), outcome: 'succeeded', result: null });
            }
            // A full batch: more may be waiting, so look again without waiting for a signal.
            if (claimed.length === concurrency) dirty = true;
          }
          if (done.length > 0) await store.complete(done);
        })();
      },
      async close() {
        stopped = true;
        await loop;
        await store.close();
      },
    };
  },
  async cleanup(context: BenchContext) {
    const client = new pg.Client({ connectionString: CONNECTION_STRING });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schemaOf(context)}" CASCADE`);
    } finally {
      await client.end();
    }
  },
};
