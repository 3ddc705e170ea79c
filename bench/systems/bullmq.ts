import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { Queue, Worker } from 'bullmq';
import type { ConnectionOptions } from 'bullmq';
import type { BenchContext, BenchQueue, BenchSystem, Payload } from './types.ts';

const require = createRequire(import.meta.url);
const version = (require('bullmq/package.json') as { version: string }).version;

const HOST = '127.0.0.1';
const PORT = 6379;
/** Plain options: BullMQ builds its own ioredis clients from them (one per Queue, two per Worker). */
const connection: ConnectionOptions = { host: HOST, port: PORT };

/** The one job name the benchmark uses. */
const NAME = 'noop';

/**
 * BullMQ as its README shows: `new Queue(name, { connection })` with `add` / `addBulk`, and
 * `new Worker(name, processor, { connection, concurrency })`. Concurrency 10, as in published comparisons.
 * Everything else is default, including `removeOnComplete: false` (completed jobs stay in Redis until the queue is
 * obliterated in cleanup()).
 */
export const bullmq: BenchSystem = {
  name: `BullMQ ${version}`,
  store: 'Redis',
  concurrency: 10,
  async unavailable() {
    const reasons: string[] = [];
    // BullMQ 6 no longer depends on ioredis: it is an optional peer dependency that BullMQ loads when given plain
    // connection options, as here. Check it before BullMQ fails on first use.
    if (!canResolve('ioredis')) reasons.push('the ioredis package, which BullMQ 6 needs as a peer dependency to reach Redis, is not installed');
    const redis = await pingRedis(HOST, PORT, 1500);
    if (redis !== null) reasons.push(`Redis is not reachable on ${HOST}:${PORT} (${redis})`);
    return reasons.length === 0 ? null : reasons.join('; ');
  },
  async open(context: BenchContext): Promise<BenchQueue> {
    const queue = new Queue<Payload, void, string>(context.id, { connection });
    // Without an 'error' listener a connection error would be thrown from the emitter and end the process.
    queue.on('error', (error) => console.error('BullMQ queue error:', error.message));
    await queue.waitUntilReady();
    let worker: Worker<Payload, void, string> | undefined;
    return {
      async add(payload: Payload, runAt?: Date) {
        await queue.add(NAME, payload, runAt === undefined ? undefined : { delay: Math.max(0, runAt.getTime() - Date.now()) });
      },
      async addBulk(payloads: readonly Payload[]) {
        // One MULTI of addJob scripts: a single round trip.
        await queue.addBulk(payloads.map((data) => ({ name: NAME, data })));
      },
      async work(handler, concurrency) {
        worker = new Worker<Payload, void, string>(context.id, async (job) => { handler(job.data); }, { connection, concurrency });
        worker.on('error', (error) => console.error('BullMQ worker error:', error.message));
        await worker.waitUntilReady();
      },
      async close() {
        await worker?.close(); // waits for active jobs, then closes both of the worker's connections
        await queue.close();
      },
    };
  },
  async cleanup(context: BenchContext) {
    const queue = new Queue(context.id, { connection });
    queue.on('error', (error) => console.error('BullMQ queue error:', error.message));
    try {
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
    }
  },
};

/** Whether BullMQ (from where it is installed) can load `name`. */
function canResolve(name: string): boolean {
  try {
    createRequire(require.resolve('bullmq')).resolve(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends one PING over a plain socket, so no Redis client (and no client retry loop) is involved.
 * Null when Redis answered; otherwise the error code or `timeout`.
 */
function pingRedis(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const finish = (result: string | null): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => finish('timeout'));
    socket.once('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
    socket.once('connect', () => socket.write('PING\r\n'));
    // Any reply (+PONG, or -NOAUTH when a password is set) shows a Redis server is there.
    socket.once('data', () => finish(null));
  });
}
