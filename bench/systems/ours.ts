import { join } from 'node:path';
import { createLogger, outsideprocess, serviceMap, SqliteStore, Worker, WorkerService } from '../../src/index.ts';
import type { BenchContext, BenchQueue, BenchSystem, Payload } from './types.ts';

/** This project, used through its public entry (src/index.ts) as an embedding script would. */
export const ours: BenchSystem = {
  name: 'amsoil-scheduler',
  store: 'SQLite',
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 100),
  async unavailable() {
    return null;
  },
  async open(context: BenchContext): Promise<BenchQueue> {
    // As the app and worker processes open it (openWorkerService): checkpoints on a background thread.
    const store = SqliteStore.open({ path: join(context.dir, 'jobs.db'), checkpoint: 'background' });
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
        worker = new Worker({ store, services: serviceMap({ bench }), logger: createLogger({ level: 'warn', pretty: false }), concurrency });
        worker.start();
      },
      async close() {
        await worker?.stop(1000);
        await store.close();
      },
    };
  },
};
