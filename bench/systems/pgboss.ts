import { createRequire } from 'node:module';
import PgBoss from 'pg-boss';
import { CONNECTION_STRING, dropSchema, postgresUnavailable } from './postgres-server.ts';
import type { BenchContext, BenchQueue, BenchSystem, Payload } from './types.ts';

const version = (createRequire(import.meta.url)('pg-boss/package.json') as { version: string }).version;


const QUEUE = 'noop';

/** Work loops in the worker process, and jobs each fetches at a time (see below). */
const LOOPS = 10;
const BATCH = 100;

function schemaOf(context: BenchContext): string {
  return `bench_boss_${context.id.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/**
 * pg-boss 10 (12 needs Node 22.12; this project supports Node 20): `send`
 * and `insert` to add, `work` to run. A `work` call is one loop that
 * fetches up to `batchSize` jobs, runs the handler on them, completes them,
 * and then waits out the polling interval (2 s by default, 0.5 s at least)
 * before it fetches again, jobs left or not; a worker in another process is
 * not notified of new jobs. With its defaults (one loop, batch of 1, 2 s) a
 * drain of 50,000 jobs would take seven hours, so the worker runs LOOPS
 * loops with batches of BATCH at the 0.5 s minimum: up to 1,000 jobs at a
 * time, shown as its concurrency. Everything else is default (supervision,
 * maintenance, the `standard` queue policy).
 */
export const pgboss: BenchSystem = {
  name: `pg-boss ${version}`,
  store: 'PostgreSQL',
  concurrency: LOOPS * BATCH,
  unavailable: postgresUnavailable,
  async open(context: BenchContext): Promise<BenchQueue> {
    const boss = new PgBoss({ connectionString: CONNECTION_STRING, schema: schemaOf(context) });
    boss.on('error', (error: Error) => console.error(`[pg-boss] ${error.message}`));
    await boss.start();
    // Queues are made explicitly in pg-boss 10; doing it again is harmless (the harness opens each context first).
    await boss.createQueue(QUEUE);
    return {
      async add(payload: Payload, runAt?: Date) {
        await boss.send(QUEUE, payload, runAt === undefined ? {} : { startAfter: runAt });
      },
      async addBulk(payloads: readonly Payload[]) {
        // One statement for the whole array (jobs passed as JSON).
        await boss.insert(payloads.map((data) => ({ name: QUEUE, data })));
      },
      async work(handler) {
        for (let i = 0; i < LOOPS; i++) {
          await boss.work<Payload>(QUEUE, { batchSize: BATCH, pollingIntervalSeconds: 0.5 }, async (jobs) => {
            for (const job of jobs) handler(job.data);
          });
        }
      },
      async close() {
        await boss.stop({ graceful: true, wait: true, timeout: 1000 });
      },
    };
  },
  async cleanup(context: BenchContext) {
    await dropSchema(schemaOf(context));
  },
};
