import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import type { Runner, TaskList, WorkerEvents, WorkerUtils } from 'graphile-worker';
import { CONNECTION_STRING, dropSchema, postgresUnavailable } from './postgres-server.ts';
import type { BenchContext, BenchQueue, BenchSystem, Payload } from './types.ts';

const version = (createRequire(import.meta.url)('graphile-worker/package.json') as { version: string }).version;

/** The one task the benchmark uses. */
const TASK = 'noop';

/**
 * graphile-worker's default logger writes to the console at info level, including one "Completed task …" line per
 * job on stdout. That would break the benchmark's stdout protocol and time console I/O rather than the queue, so we
 * pass a Logger (its documented `logger` option) that keeps warnings and errors, on stderr. The one warning every
 * `runner.stop()` logs ("Runner stopping") is dropped too.
 */
const logger = new Logger(() => (level, message) => {
  const name = String(level);
  if ((name === 'error' || name === 'warning') && !message.startsWith('Runner stopping')) console.error(`[graphile-worker] ${name}: ${message}`);
});

/** One schema per context: graphile-worker installs its tables and functions there. */
function schemaOf(context: BenchContext): string {
  return `bench_${context.id.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** How a graphile-worker system is set up: its defaults, or its batched mode. */
interface GraphileMode {
  readonly name: string;
  readonly concurrency: number;
  /** `preset.worker` options beyond the defaults. */
  readonly preset?: { localQueue?: { size: number }; completeJobBatchDelay?: number; failJobBatchDelay?: number };
}

/**
 * graphile-worker as its library-mode docs show: `makeWorkerUtils` to add jobs (`addJob`, `addJobs`) and
 * `run({ taskList, concurrency })` for the worker. Defaults: concurrency 10, as in graphile-worker's published
 * performance figures, `pollInterval` 2000 ms (new jobs arrive by LISTEN/NOTIFY; the poll only finds jobs whose
 * `runAt` has come), no local queue, no complete-job batching.
 */
export const graphile: BenchSystem = graphileSystem({ name: `graphile-worker ${version}`, concurrency: 10 });

/**
 * graphile-worker in its batched mode (0.17's performance docs): a local queue that fetches and locks up to
 * `localQueue.size` jobs at a time, and completions and failures batched (`completeJobBatchDelay` and
 * `failJobBatchDelay` 0: batched within a tick). Size 500, as in its published ~184,000 jobs/s run; run at the
 * concurrency of our PostgreSQL row (BENCH_CONCURRENCY, default 100), so drains are compared at the same concurrency.
 */
export const graphileBatched: BenchSystem = graphileSystem({
  name: `graphile-worker ${version}, batched`,
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? 100),
  preset: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
});

function graphileSystem(mode: GraphileMode): BenchSystem {
  return {
    name: mode.name,
    store: 'PostgreSQL',
    concurrency: mode.concurrency,
    unavailable: postgresUnavailable,
    async open(context: BenchContext): Promise<BenchQueue> {
      const schema = schemaOf(context);
      // makeWorkerUtils creates its pg pool and runs the migrations (installing the schema when new). Concurrent
      // migrations are tolerated by graphile-worker (a duplicate migration row means "someone else did it"), but the
      // harness opens each context once in the parent before starting its processes anyway.
      const utils: WorkerUtils = await makeWorkerUtils({ connectionString: CONNECTION_STRING, schema, logger });
      let runner: Runner | undefined;
      return {
        async add(payload: Payload, runAt?: Date) {
          await utils.addJob(TASK, payload, runAt === undefined ? {} : { runAt });
        },
        async addBulk(payloads: readonly Payload[]) {
          // One call of the add_jobs SQL function with an array of job specs: one round trip.
          await utils.addJobs(payloads.map((payload) => ({ identifier: TASK, payload })));
        },
        async work(handler, concurrency) {
          const taskList: TaskList = { [TASK]: (payload) => { handler(payload as Payload); } };
          // `events` is the documented way to see start-up events; we resolve once the pool's LISTEN connection is up,
          // so a job added right after work() resolves is announced to this worker rather than found by the next poll.
          const events = new EventEmitter() as WorkerEvents;
          const listening = new Promise<void>((resolve) => { events.once('pool:listen:success', () => resolve()); });
          const preset = mode.preset === undefined ? {} : { preset: { worker: mode.preset } };
          runner = await run({ connectionString: CONNECTION_STRING, schema, concurrency, taskList, logger, events, ...preset });
          await listening;
        },
        async close() {
          await runner?.stop(); // graceful: waits for running jobs, then releases the runner's pool
          await utils.release();
        },
      };
    },
    async cleanup(context: BenchContext) {
      await dropSchema(schemaOf(context));
    },
  };
}
