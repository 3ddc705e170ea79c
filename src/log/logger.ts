import pino, { type DestinationStream, type LogFn, type Logger } from 'pino';

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
  /** Where JSON lines go instead of stdout (ignored when `pretty`). @default stdout */
  readonly destination?: DestinationStream;
}

/**
 * JSON lines for machines by default; pino-pretty only when a person is
 * watching a terminal, so log shippers never see colour codes.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  const settings = {
    level: options.level ?? 'info',
    base: { pid: process.pid, ...options.base },
    hooks: { logMethod: dropBoundKeys },
    ...(pretty
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true } } }
      : {}),
  };
  return pretty || options.destination === undefined ? pino(settings) : pino(settings, options.destination);
}

/**
 * pino writes a child logger's bindings and then the fields of the call, so
 * `ctx.log.info({ jobId: ctx.id }, …)` on a job's logger (which is bound to
 * `jobId`) printed `jobId` twice in one JSON object: parsers disagree on
 * which one counts, and some refuse the line. A field the logger is already
 * bound to is dropped from the call: the binding says it. Only calls with a
 * fields object pay for the look, a substring test on the bindings' JSON.
 */
function dropBoundKeys(this: Logger, args: Parameters<LogFn>, method: LogFn): void {
  const [fields, ...rest] = args as unknown[];
  if (typeof fields === 'object' && fields !== null && !(fields instanceof Error)) {
    const bound = (this as unknown as Record<symbol, string | undefined>)[pino.symbols.chindingsSym];
    if (bound !== undefined && bound !== '') {
      let kept: Record<string, unknown> | undefined;
      for (const key of Object.keys(fields)) {
        if (!bound.includes(`"${key}":`)) continue;
        kept ??= { ...(fields as Record<string, unknown>) };
        delete kept[key];
      }
      if (kept !== undefined) {
        (method as (...values: unknown[]) => void).apply(this, [kept, ...rest]);
        return;
      }
    }
  }
  (method as (...values: unknown[]) => void).apply(this, args as unknown[]);
}
