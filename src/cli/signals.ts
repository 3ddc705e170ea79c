import type { Logger } from '../log/logger.ts';

/**
 * Runs `shutdown` on the first of `signals`, then exits 0 (1 if shutdown
 * failed). A second signal exits at once with 130, for a person who will not wait.
 */
export function onShutdownSignal(
  logger: Logger,
  shutdown: () => Promise<void>,
  signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'],
): () => void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals | 'disconnect'): void => {
    if (stopping) {
      if (signal === 'disconnect') return;
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    shutdown().then(
      () => process.exit(process.exitCode ?? 0),
      (error: unknown) => {
        logger.fatal({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, handle);
  return () => handle('disconnect');
}
