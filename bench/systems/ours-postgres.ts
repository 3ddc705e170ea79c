import { createLogger, outsideprocess, PostgresStore, serviceMap, Worker, WorkerService } from '../../src/index.ts';
import { CONNECTION_STRING, dropSchema, postgresUnavailable } from './postgres-server.ts';
import type { BenchContext, BenchQueue, BenchSystem, Payload } from './types.ts';


function schemaOf(context: BenchContext): string {
  return `bench_ours_${context.id.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/**
 * This project on its PostgreSQL store, used as ours.ts uses the SQLite one:
 * through the public entry, `WorkerService` to add and the real `Worker` to
 * run (claims, outcomes written with the next claim on the pipelined
 * connection, heartbeats, LISTEN/NOTIFY wake-ups), with the store's defaults
 * (pool of 10, 2 s backstop tick).
 */
export const oursPostgres: BenchSystem = {
  name: 'amsoil-scheduler (PostgreSQL)',
  store: 'PostgreSQL',
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 100),
  unavailable: postgresUnavailable,
  async open(context: BenchContext): Promise<BenchQueue> {
    const logger = createLogger({ level: 'warn', pretty: false });
    const store = await PostgresStore.open({ url: CONNECTION_STRING, schema: schemaOf(context), logger });
    const jobs = new WorkerService(store);
    let worker: Worker | undefined;
    return {
      async add(payload: Payload, runAt?: Date) {
        await (runAt === undefined ? jobs.add('bench', 'noop', payload) : jobs.addAsScheduled('bench', 'noop', payload, runAt));
      },
      async addBulk(payloads: readonly Payload[]) {
        await jobs.addMany(payloads.map((params) => ({ service: 'bench', method: 'noop', params })));
      },
      async work(handler, concurrency) {
        const bench = { noop: outsideprocess(async (payload: Payload) => { handler(payload); }) };
        // Resolves once the LISTEN connection is up (its first wake-up), as graphile.ts waits for its own: a job added
        // right after is announced to this worker, not found by the 2 s backstop tick.
        const listening = new Promise<void>((resolve) => {
          const off = store.onChange((change) => {
            if (change !== 'any') return;
            off();
            resolve();
          });
        });
        worker = new Worker({ store, services: serviceMap({ bench }), logger, concurrency });
        worker.start();
        await listening;
      },
      async close() {
        await worker?.stop(1000);
        await store.close();
      },
    };
  },
  async cleanup(context: BenchContext) {
    await dropSchema(schemaOf(context));
  },
};
