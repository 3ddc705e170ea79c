import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log/logger.ts';

const require = createRequire(import.meta.url);
const THREAD = new URL('./checkpoint-thread.cjs', import.meta.url);

/**
 * SQLite copies the WAL back into the database file (a checkpoint) on the
 * connection whose commit crosses `wal_autocheckpoint` pages, and with
 * `synchronous=NORMAL` that copy ends with fsync: a pause of milliseconds on
 * the event loop of whichever process committed, in the middle of its jobs.
 * This runs checkpoints on a worker thread with its own connection instead,
 * every `intervalMs`; the store's connection keeps a much higher automatic
 * threshold only as a safety net.
 */
export class BackgroundCheckpointer {
  readonly #thread: Worker;

  constructor(path: string, options: { intervalMs?: number; logger?: Logger } = {}) {
    this.#thread = new Worker(THREAD, {
      // Plain CommonJS needs none of the process's flags. Inherited, `--import tsx` loaded tsx's loader into the
      // thread too: ~150 ms of CPU at start, contending with the first claims on two cores, and ~10 MB.
      execArgv: [],
      workerData: { path, intervalMs: options.intervalMs ?? 200, driver: require.resolve('better-sqlite3') },
    });
    this.#thread.on('message', (message: { error?: string }) => {
      options.logger?.warn({ path, error: message.error }, 'background WAL checkpoint failed; it is tried again shortly');
    });
    this.#thread.on('error', (error) => options.logger?.error({ err: error, path }, 'the WAL checkpoint thread stopped'));
    // Never what keeps a process alive.
    this.#thread.unref();
  }

  /** Stops the thread after closing its connection. */
  close(): void {
    this.#thread.postMessage('close');
  }
}

/** The store connection's own automatic checkpoint threshold while a background checkpointer runs: 32 MB of WAL. */
export const SAFETY_NET_CHECKPOINT_PAGES = 8192;
