/**
 * The mark that makes a method callable by the worker. It is only a flag,
 * checked when the job runs (the target plugin may not even be loaded where
 * the job is added): nothing in the database can make the worker call a
 * function that was not marked in code.
 */

import { assertMethodOptionKeys, resolveConcurrency, resolveJobOptions, type ConcurrencyOption, type Priority } from './job-options.ts';

/** Defaults a method gives its jobs; options given to `add*` win. */
export interface MethodOptions {
  /** Attempts before the job ends `failed`. */
  readonly maxAttempts?: number;
  /** Seconds before the attempt is aborted and counted as failed. */
  readonly timeout?: number;
  /** Claim order among due jobs: `high`, `normal`, `low` or an integer; higher first. */
  readonly priority?: Priority;
  /** At most `limit` (default 1) of this method's jobs with this key run at once, everywhere (see JobOptions.concurrency). */
  readonly concurrency?: ConcurrencyOption;
}

/** The function shape the worker calls: `(params, ctx)`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- any function may be marked; its own types stay intact.
type AnyFunction = (...args: any[]) => unknown;

const marked = new WeakMap<AnyFunction, MethodOptions>();

/** A decorator (TC39, on a class method) or wrapper that marks functions. */
export type OutsideprocessMarker = <F extends AnyFunction>(fn: F, context?: ClassMethodDecoratorContext) => F;

/**
 * Marks a method as callable by the worker.
 *
 * @example As a decorator on a class method:
 * ```ts
 * class Mailer { @outsideprocess async send(params: { to: string }, ctx: JobContext) { … } }
 * ```
 * @example As a wrapper around a plain function, with defaults for its jobs:
 * ```ts
 * const cleanup = outsideprocess({ maxAttempts: 5 })(async (params, ctx) => { … });
 * ```
 */
export function outsideprocess<F extends AnyFunction>(fn: F, context?: ClassMethodDecoratorContext): F;
export function outsideprocess(options: MethodOptions): OutsideprocessMarker;
export function outsideprocess<F extends AnyFunction>(fnOrOptions: F | MethodOptions, _context?: ClassMethodDecoratorContext): F | OutsideprocessMarker {
  if (typeof fnOrOptions === 'function') {
    marked.set(fnOrOptions, {});
    return fnOrOptions;
  }
  assertMethodOptionKeys(fnOrOptions, 'outsideprocess(options)');
  const options = { ...fnOrOptions };
  resolveJobOptions(options); // refuse bad defaults where they are written, not when a job is added
  resolveConcurrency(options.concurrency);
  return <G extends AnyFunction>(fn: G): G => {
    marked.set(fn, options);
    return fn;
  };
}

/** Whether `fn` was marked, and the defaults it was marked with. */
export function markOf(fn: unknown): MethodOptions | undefined {
  return typeof fn === 'function' ? marked.get(fn as AnyFunction) : undefined;
}
