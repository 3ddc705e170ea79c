import { didYouMean } from '../text/did-you-mean.ts';
import { InvalidArgumentError } from '../errors.ts';
import { MISFIRE_POLICIES, type MisfirePolicy } from '../schedule/schedule.ts';
import type { ConcurrencyLimit, ParentRef } from '../store/job-store.ts';
import type { MethodOptions } from './outsideprocess.ts';

/**
 * Options accepted by `add`, `addAsScheduled` and `addMany`. Each overrides the method's
 * `outsideprocess` default. A key not listed here is refused (InvalidArgumentError naming it).
 */
export interface JobOptions {
  /** Attempts before the job ends `failed`; a failed attempt is retried with exponential backoff. @default 3 */
  readonly maxAttempts?: number;
  /** Seconds an attempt may run before its AbortSignal fires and it counts as failed. @default none */
  readonly timeout?: number;
  /** Claim order among due jobs: higher first; `high` = 10, `normal` = 0, `low` = -10. @default 'normal' */
  readonly priority?: Priority;
  /**
   * Unique key (Gearman's unique id): while a job with the same service,
   * method and key is waiting or running, `add` returns that job's handle
   * instead of adding another. Once it has finished, the key is free again.
   */
  readonly key?: string;
  /** Labels (aws-flow's tag_list), for `jobs list --tag`. */
  readonly tags?: readonly string[];
  /**
   * Jobs this one runs after (JobCenter's workflow steps): handles or ids of
   * jobs already added, or in `addMany` `{ entry: i }` for the i-th entry of
   * the same call (an earlier one). It runs once all of them succeeded, and
   * sees how they ended in `ctx.parents`; if one ends failed or cancelled it
   * ends `cancelled` (and so do the jobs waiting for it), unless
   * `onParentFailure` is `'run'`. Retrying that parent brings them back.
   */
  readonly after?: readonly JobRef[];
  /** What a parent that failed or was cancelled does to this job. @default 'cancel' */
  readonly onParentFailure?: 'cancel' | 'run';
  /**
   * Per-key concurrency (JobCenter's locks): at most `limit` jobs with this
   * `key` run at once, across every worker and host on the database. A job
   * whose key is full waits, using no attempt and no polling, and is let
   * through oldest first as the key's running jobs stop; other jobs pass it.
   * A crashed worker's slot comes back with its job. Fixed when the job is
   * added (overrides the method's `outsideprocess({ concurrency })`).
   */
  readonly concurrency?: ConcurrencyOption;
  /**
   * Debounce: while a job with this service, method and `key` is waiting,
   * this add replaces its params and moves its run time to now + `seconds`
   * (never later than `maxSeconds` after the first add), and returns the same
   * handle: every caller's `result()` resolves with that one run's result.
   * Once the job runs, the next add makes a new one. Only with `add` and
   * `addMany` (it sets the run time), and not with a unique `key` or `after`.
   */
  readonly debounce?: DebounceOption;
  /**
   * A rate limit's name ({@link WorkerService.setRateLimit}): this job's start
   * counts against it, and while the name is at its limit the job waits for
   * its next slot (no attempt used, no polling). The name must be set first.
   */
  readonly rateLimit?: string;
}

/** See {@link JobOptions.debounce}. */
export interface DebounceOption {
  readonly key: string;
  /** Positive. */
  readonly seconds: number;
  /** At least `seconds`. */
  readonly maxSeconds?: number;
}

/** See {@link JobOptions.concurrency}. */
export interface ConcurrencyOption {
  readonly key: string;
  /** A positive integer. @default 1 */
  readonly limit?: number;
}

/** A job to run after: a handle, an id, or (in `addMany`) an earlier entry of the same call. */
export type JobRef = number | { readonly id: number; readonly database: string } | { readonly entry: number };

/** Options accepted by `addAsRecurring`. A key not listed here is refused (InvalidArgumentError naming it). */
export interface RecurringOptions extends Omit<JobOptions, 'key' | 'tags' | 'after' | 'onParentFailure' | 'concurrency' | 'debounce' | 'rateLimit'> {
  /** Distinguishes several recurring jobs of one method; part of the signature. @default '' */
  readonly name?: string;
  /**
   * IANA time zone of a cron expression, e.g. "Europe/Berlin". Part of the
   * schedule: registering the job again with another zone moves its next run.
   * @default 'UTC' (never the zone of the process that adds it, so every process registers the same schedule)
   */
  readonly tz?: string;
  /** What to do with occurrences missed while no worker ran. @default 'once' */
  readonly misfire?: MisfirePolicy;
}

/** A named priority or any integer (higher runs first). */
export type Priority = 'high' | 'normal' | 'low' | number;
export const PRIORITIES: Readonly<Record<'high' | 'normal' | 'low', number>> = { high: 10, normal: 0, low: -10 };

export const DEFAULT_MAX_ATTEMPTS = 3;

/** The stored form of job options after validation and defaults. */
export interface ResolvedJobOptions {
  readonly maxAttempts: number;
  readonly timeoutMs: number | null;
  readonly priority: number;
}

/**
 * Validates options and fills defaults.
 * @throws InvalidArgumentError naming the option and the accepted values.
 */
export function resolveJobOptions(options: JobOptions | undefined, defaults: MethodOptions = {}): ResolvedJobOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(`Expected \`options\` to be an object, got ${typeof options}`);
  }
  const maxAttempts = options?.maxAttempts ?? defaults.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new InvalidArgumentError(`Expected \`maxAttempts\` to be an integer >= 1, got \`${String(maxAttempts)}\``);
  }
  const timeout = options?.timeout ?? defaults.timeout;
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0)) {
    throw new InvalidArgumentError(`Expected \`timeout\` to be a positive number of seconds, got \`${String(timeout)}\``);
  }
  return {
    maxAttempts,
    timeoutMs: timeout === undefined ? null : Math.round(timeout * 1000),
    priority: resolvePriority(options?.priority ?? defaults.priority ?? 'normal'),
  };
}

/** @throws InvalidArgumentError unless `priority` is high, normal, low or an integer. */
export function resolvePriority(priority: unknown): number {
  if (typeof priority === 'number' && Number.isSafeInteger(priority)) return priority;
  if (typeof priority === 'string' && Object.hasOwn(PRIORITIES, priority)) {
    return PRIORITIES[priority as keyof typeof PRIORITIES];
  }
  throw new InvalidArgumentError(`Expected \`priority\` to be "high", "normal", "low" or an integer, got \`${String(priority)}\``);
}

/** @throws InvalidArgumentError unless `key` is a non-empty string (or absent). */
export function resolveKey(key: unknown): string | null {
  if (key === undefined || key === null) return null;
  if (typeof key !== 'string' || key === '') {
    throw new InvalidArgumentError(`Expected \`key\` to be a non-empty string, got ${key === '' ? 'an empty string' : `\`${String(key)}\` (${typeof key})`}`);
  }
  return key;
}

/** @throws InvalidArgumentError unless `tags` is an array of non-empty strings (or absent). */
export function resolveTags(tags: unknown): string[] | null {
  if (tags === undefined || tags === null) return null;
  if (!Array.isArray(tags)) throw new InvalidArgumentError(`Expected \`tags\` to be an array of strings, got ${typeof tags}`);
  tags.forEach((tag: unknown, index) => {
    if (typeof tag !== 'string' || tag === '') {
      throw new InvalidArgumentError(`Expected \`tags[${index}]\` to be a non-empty string, got \`${String(tag)}\` (${typeof tag})`);
    }
  });
  return [...new Set(tags as string[])];
}

/**
 * `after` as the store takes it.
 * @param entries how many entries of the same `addMany` call come before
 *   this job (`{ entry }` may name those); undefined for a single add.
 * @throws InvalidArgumentError naming the bad element.
 */
export function resolveAfter(after: unknown, entries?: number): ParentRef[] | undefined {
  if (after === undefined) return undefined;
  if (!Array.isArray(after)) throw new InvalidArgumentError(`Expected \`after\` to be an array of job handles or ids, got ${typeof after}`);
  return after.map((ref: unknown, index): ParentRef => {
    if (typeof ref === 'number' && Number.isSafeInteger(ref) && ref > 0) return { id: ref };
    if (typeof ref === 'object' && ref !== null) {
      const { id, database, entry } = ref as { id?: unknown; database?: unknown; entry?: unknown };
      if (typeof id === 'number' && Number.isSafeInteger(id) && id > 0 && typeof database === 'string') return { id, database };
      if (entry !== undefined) {
        if (entries === undefined) throw new InvalidArgumentError(`Expected \`after[${index}]\` to be a job handle or id: \`{ entry }\` names an entry of the same addMany call`);
        if (typeof entry === 'number' && Number.isInteger(entry) && entry >= 0 && entry < entries) return { entry };
        const range = entries === 0 ? 'this is the first entry: it has none before it' : `0 to ${entries - 1}`;
        throw new InvalidArgumentError(`Expected \`after[${index}].entry\` to be the index of an earlier entry of this addMany call (${range}), got \`${String(entry)}\``);
      }
    }
    throw new InvalidArgumentError(`Expected \`after[${index}]\` to be a job handle, a job id (a positive integer) or { entry }, got \`${String(ref)}\``);
  });
}

/** @throws InvalidArgumentError unless `onParentFailure` is 'cancel' or 'run'. */
export function resolveOnParentFailure(value: unknown): 'cancel' | 'run' | undefined {
  if (value === undefined || value === 'cancel' || value === 'run') return value;
  throw new InvalidArgumentError(`Expected \`onParentFailure\` to be "cancel" or "run", got \`${String(value)}\``);
}

/** `rateLimit`, checked. @throws InvalidArgumentError unless it is a non-empty string. */
export function resolveRateLimitName(value: unknown, argument = 'rateLimit'): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new InvalidArgumentError(`Expected \`${argument}\` to be a rate limit's name (a non-empty string), got ${value === '' ? 'an empty string' : `\`${String(value)}\` (${typeof value})`}`);
  }
  return value;
}

/** `debounce`, checked. @throws InvalidArgumentError naming the bad field. */
export function resolveDebounce(value: unknown): { key: string; seconds: number; maxSeconds: number | null } | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(`Expected \`debounce\` to be { key, seconds, maxSeconds? }, got ${value === null ? 'null' : typeof value}`);
  assertKnownKeys(value, DEBOUNCE_KEYS, 'debounce', 'field');
  const { key, seconds, maxSeconds } = value as { key?: unknown; seconds?: unknown; maxSeconds?: unknown };
  if (typeof key !== 'string' || key === '') {
    throw new InvalidArgumentError(`Expected \`debounce.key\` to be a non-empty string, got ${key === '' ? 'an empty string' : `\`${String(key)}\` (${typeof key})`}`);
  }
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new InvalidArgumentError(`Expected \`debounce.seconds\` to be a positive number, got \`${String(seconds)}\``);
  }
  if (maxSeconds !== undefined && (typeof maxSeconds !== 'number' || !Number.isFinite(maxSeconds) || maxSeconds < seconds)) {
    throw new InvalidArgumentError(`Expected \`debounce.maxSeconds\` to be a number of seconds at least \`debounce.seconds\` (${seconds}), got \`${String(maxSeconds)}\``);
  }
  return { key, seconds, maxSeconds: maxSeconds ?? null };
}

/** `concurrency` as the store takes it. @throws InvalidArgumentError naming the bad field. */
export function resolveConcurrency(value: unknown): ConcurrencyLimit | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(`Expected \`concurrency\` to be { key, limit? }, got ${value === null ? 'null' : typeof value}`);
  assertKnownKeys(value, CONCURRENCY_KEYS, 'concurrency', 'field');
  const { key, limit = 1 } = value as { key?: unknown; limit?: unknown };
  if (typeof key !== 'string' || key === '') {
    throw new InvalidArgumentError(`Expected \`concurrency.key\` to be a non-empty string, got ${key === '' ? 'an empty string' : `\`${String(key)}\` (${typeof key})`}`);
  }
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw new InvalidArgumentError(`Expected \`concurrency.limit\` to be a positive integer, got \`${String(limit)}\``);
  }
  return { key, limit };
}

/** @throws InvalidArgumentError unless `misfire` is a known policy. */
export function resolveMisfire(misfire: unknown): MisfirePolicy {
  if (misfire === undefined) return 'once';
  if (typeof misfire === 'string' && (MISFIRE_POLICIES as readonly string[]).includes(misfire)) return misfire as MisfirePolicy;
  throw new InvalidArgumentError(`Expected \`misfire\` to be one of ${MISFIRE_POLICIES.join(', ')}, got \`${String(misfire)}\``);
}

/** @throws InvalidArgumentError unless `value` is a non-empty string. */
export function assertName(value: unknown, argument: string): asserts value is string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidArgumentError(`Expected \`${argument}\` to be a non-empty string, got ${value === '' ? 'an empty string' : `\`${String(value)}\` (${typeof value})`}`);
  }
}

/*
 * The keys each options object takes. A key not listed is refused rather than
 * ignored: `maxAttempt: 5` or `after: [job]` stored as if never given is a
 * silent surprise. Records, so that the compiler insists on every key of the type.
 */
const JOB_OPTION_KEYS: Readonly<Record<keyof JobOptions, true>> = {
  maxAttempts: true, timeout: true, priority: true, key: true, tags: true, after: true, onParentFailure: true, concurrency: true, debounce: true,
  rateLimit: true,
};
const DEBOUNCE_KEYS: Readonly<Record<keyof DebounceOption, true>> = { key: true, seconds: true, maxSeconds: true };
const RECURRING_OPTION_KEYS: Readonly<Record<keyof RecurringOptions, true>> = {
  maxAttempts: true, timeout: true, priority: true, name: true, tz: true, misfire: true,
};
const METHOD_OPTION_KEYS: Readonly<Record<keyof MethodOptions, true>> = { maxAttempts: true, timeout: true, priority: true, concurrency: true };
const CONCURRENCY_KEYS: Readonly<Record<keyof ConcurrencyOption, true>> = { key: true, limit: true };

/** @throws InvalidArgumentError naming every key of `options` that {@link JobOptions} does not have. */
export function assertJobOptionKeys(options: unknown, argument = 'options'): void {
  assertKnownKeys(options, JOB_OPTION_KEYS, argument, 'option');
}

/** @throws InvalidArgumentError naming every key of `options` that {@link RecurringOptions} does not have. */
export function assertRecurringOptionKeys(options: unknown, argument = 'options'): void {
  assertKnownKeys(options, RECURRING_OPTION_KEYS, argument, 'option');
}

/** @throws InvalidArgumentError naming every key of `options` that {@link MethodOptions} does not have. */
export function assertMethodOptionKeys(options: unknown, argument = 'options'): void {
  assertKnownKeys(options, METHOD_OPTION_KEYS, argument, 'option');
}

/**
 * @param value checked only when it is an object: other values are for the caller's type checks to refuse.
 * @param argument how messages name `value`, e.g. `jobs[3].options`.
 * @param what what a key of it is called: `option`, `field`.
 * @throws InvalidArgumentError naming each unknown key (with a "did you mean") and the known ones.
 */
export function assertKnownKeys(value: unknown, known: Readonly<Record<string, true>>, argument: string, what: string): void {
  if (typeof value !== 'object' || value === null || hasOnlyKeys(value, known)) return;
  const unknown: string[] = [];
  // Inherited keys too, as hasOnlyKeys sees them: `options.maxAttempts` reads those as well.
  for (const key in value) if (!Object.hasOwn(known, key)) unknown.push(key);
  const names = Object.keys(known);
  const listed = unknown.map((key) => `"${key}"${didYouMean(key, names)}`);
  throw new InvalidArgumentError(
    `Unknown ${what}${unknown.length === 1 ? '' : 's'} ${inWords(listed)} in \`${argument}\`; expected only ${inWords(names)}`,
  );
}

/** Whether every key of `value` is in `known`: the check alone, cheap enough to make for each of a million bulk jobs. */
export function hasOnlyKeys(value: object, known: Readonly<Record<string, true>>): boolean {
  for (const key in value) if (!Object.hasOwn(known, key)) return false;
  return true;
}

/** `a`, `a and b`, `a, b and c`. */
function inWords(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)!}`;
}
