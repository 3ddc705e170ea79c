import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** pino level name. @default 'info' */
  readonly level?: string;
  /**
   * Human-readable lines instead of JSON.
   * @default true when stdout is a terminal
   */
  readonly pretty?: boolean;
  /** Extra fields on every line (e.g. `{ role: 'worker' }`). */
  readonly base?: Record<string, unknown>;
}

/**
 * JSON lines for machines by default; pino-pretty only when a person is
 * watching a terminal, so log shippers never see colour codes.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  return pino({
    level: options.level ?? 'info',
    base: { pid: process.pid, ...options.base },
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true } } }
      : {}),
  });
}
