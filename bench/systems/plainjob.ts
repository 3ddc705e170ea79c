import { createRequire } from 'node:module';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { better, defineQueue, defineWorker } from 'plainjob';
import type { Logger, Worker } from 'plainjob';
import type { BenchContext, BenchQueue, BenchSystem, Payload } from './types.ts';

const version = (createRequire(import.meta.url)('plainjob/package.json') as { version: string }).version;

/** The one job type the benchmark uses; plainjob workers are defined per job type. */
const TYPE = 'noop';

/**
 * plainjob's default logger is `console`, and it logs every claim at debug level (`console.debug` goes to stdout in
 * Node) plus an info line on stop. That would flood the benchmark's stdout protocol and time console I/O rather than
 * the queue, so we pass a logger (the README's "custom logging" option) that keeps only warnings and errors, on stderr.
 */
const logger: Logger = {
  error: (message, ...meta) => console.error(message, ...meta),
  warn: (message, ...meta) => console.error(message, ...meta),
  info: () => {},
  debug: () => {},
};

/**
 * plainjob through its README's Node set-up: `better(new Database(file))` + `defineQueue` + `defineWorker`.
 * A plainjob worker runs one job at a time (its README scales out with more processes), so its concurrency is 1.
 */
export const plainjob: BenchSystem = {
  name: `plainjob ${version}`,
  store: 'SQLite',
  concurrency: 1,
  async unavailable() {
    return null;
  },
  async open(context: BenchContext): Promise<BenchQueue> {
    // defineQueue sets WAL, synchronous=NORMAL and busy_timeout=5000 and creates its tables if missing
    // (CREATE TABLE IF NOT EXISTS), so several processes may open the same file.
    const queue = defineQueue({ connection: better(new Database(join(context.dir, 'plainjob.db'))), logger });
    const running: { worker: Worker; loop: Promise<void> }[] = [];
    return {
      async add(payload: Payload, runAt?: Date) {
        // plainjob has delayed jobs as a relative `delay` in ms (stored as an absolute next_run_at = now + delay).
        queue.add(TYPE, payload, runAt === undefined ? undefined : { delay: Math.max(0, runAt.getTime() - Date.now()) });
      },
      async addBulk(payloads: readonly Payload[]) {
        // queue.addMany: one better-sqlite3 transaction of single-row INSERTs.
        queue.addMany(TYPE, [...payloads]);
      },
      async work(handler, concurrency) {
        // Each worker is one sequential claim → run → mark-done loop; `concurrency` workers share this connection.
        // The poll interval stays at its default (1000 ms): it only applies while the queue is empty, since the loop
        // claims the next job straight away after each one.
        for (let i = 0; i < concurrency; i++) {
          const worker = defineWorker(TYPE, (job) => { handler(JSON.parse(job.data) as Payload); }, { queue, logger });
          // start() resolves only when the worker stops; keep it to await in close().
          const loop = worker.start();
          loop.catch((error: unknown) => console.error('plainjob worker failed:', error));
          running.push({ worker, loop });
        }
      },
      async close() {
        // worker.stop() only cancels the idle sleep; it does not wait for a job being processed, so also await the
        // loop that start() returned before closing the database under it.
        await Promise.all(running.map(({ worker }) => worker.stop()));
        await Promise.allSettled(running.map(({ loop }) => loop));
        queue.close(); // clears its maintenance interval and closes the database
      },
    };
  },
};
