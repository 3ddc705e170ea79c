import type { Logger } from '../log/logger.ts';

/** Exit status after a second, deliberate stop request: what shells report for Ctrl-C. */
export const EXIT_FORCED = 130;

/**
 * Copies of one stop request arrive together: a terminal's Ctrl-C reaches
 * every process of the group, and npm, npx and tsx forward it once more;
 * `kill -TERM -PGID`, systemd and `concurrently` signal every process, and a
 * supervisor forwards its own copy to its children. Signals closer together
 * than this are one request.
 */
export const SAME_REQUEST_MS = 1000;

/** How a process stops: gracefully on the first request, at once on a later one. */
export interface ShutdownHandlers {
  /** The first request: finish or give back the work, then resolve. */
  readonly graceful: () => Promise<void>;
  /** A later, deliberate request while `graceful` runs: hand everything back now, then resolve. */
  readonly force: () => Promise<void>;
}

/**
 * Stops the process on the first of `signals` (or when the returned function
 * is called, e.g. when a supervisor's IPC channel is lost): runs `graceful`,
 * then exits 0 (or `process.exitCode`; 1 if it failed). Copies of that
 * signal within {@link SAME_REQUEST_MS} count as the same request. A signal
 * after that is a person who will not wait: `force` runs, then the process
 * exits {@link EXIT_FORCED}. Either way, what the process was running is
 * handed back before it exits, never left running.
 * @returns a function that starts the graceful stop, as a first signal would.
 */
export function onShutdownSignal(
  logger: Logger,
  handlers: ShutdownHandlers,
  signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'],
  now: () => number = () => performance.now(),
): () => void {
  let firstAt: number | undefined;
  let forced = false;
  const exit = (code: number): void => {
    // Said in the log: a launcher in between (npm, npx) may report the signal instead of this status.
    logger.info({ exitCode: code }, `stopped; exit status ${code}`);
    process.exit(code);
  };
  const handle = (signal: NodeJS.Signals | 'request'): void => {
    if (firstAt === undefined) {
      firstAt = now();
      logger.info({ signal }, 'shutting down: finishing running jobs (press Ctrl-C again to stop at once, handing them back)');
      handlers.graceful().then(
        () => exit(forced ? EXIT_FORCED : (typeof process.exitCode === 'number' ? process.exitCode : 0)),
        (error: unknown) => {
          logger.fatal({ err: error }, 'shutdown failed');
          exit(1);
        },
      );
      return;
    }
    if (signal === 'request' || forced) return;
    if (now() - firstAt < SAME_REQUEST_MS) {
      logger.debug({ signal }, 'the same stop request again (a forwarded copy): ignored');
      return;
    }
    forced = true;
    logger.warn({ signal }, 'second stop request: handing running jobs back now');
    handlers.force().then(
      () => exit(EXIT_FORCED),
      (error: unknown) => {
        logger.fatal({ err: error }, 'forced shutdown failed');
        exit(EXIT_FORCED);
      },
    );
  };
  for (const signal of signals) process.on(signal, handle);
  return () => handle('request');
}
