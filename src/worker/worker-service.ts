import { InvalidArgumentError, JobNotFoundError, JobTargetError } from '../errors.ts';
import { parseSchedule, startSchedule } from '../schedule/schedule.ts';
import { systemClock, type Clock } from '../schedule/clock.ts';
import { serialize } from '../serialization/payload.ts';
import type { CancelOutcome, JobState, JobStore, NewJob, RecurringRecord } from '../store/job-store.ts';
import { resumeAt } from './fire-recurring.ts';
import { JobHandle } from './job-handle.ts';
import {
  assertJobOptionKeys, assertKnownKeys, assertName, assertRecurringOptionKeys, hasOnlyKeys, resolveAfter, resolveJobOptions, resolveKey, resolveMisfire,
  resolveConcurrency, resolveDebounce, resolveOnParentFailure, resolveRateLimitName, resolveTags,
  type JobOptions, type RecurringOptions, type ResolvedJobOptions,
} from './job-options.ts';
import { ResultWatcher } from './result-watcher.ts';
import { WorkerEvents } from './worker-events.ts';
import { outsideprocess, type MethodOptions } from './outsideprocess.ts';
import { resolveTarget, type ServiceRegistry } from './resolve-target.ts';

/** One job of {@link WorkerService.addMany}. */
export interface BulkJob {
  readonly service: string;
  readonly method: string;
  readonly params?: unknown;
  /** Run at or after this instant. @default now */
  readonly runAt?: Date;
  readonly options?: JobOptions;
}

/** The fields of a {@link BulkJob}: any other is refused, naming it. */
const BULK_JOB_KEYS: Readonly<Record<keyof BulkJob, true>> = { service: true, method: true, params: true, runAt: true, options: true };

/**
 * The `worker` service: what plugins use to add jobs (AMsoil's API, in
 * TypeScript). Every method validates its arguments before anything is
 * stored, so a bad job is refused where it is added, not later in the worker.
 */
export class WorkerService {
  /** The store behind this service; the worker process claims from it. */
  readonly store: JobStore;
  /** Lifecycle events of the worker running in this process; subscribe from a plugin's setup(). */
  readonly events = new WorkerEvents();
  readonly #clock: Clock;
  readonly #services: ServiceRegistry | undefined;
  readonly #watcher: ResultWatcher;
  readonly #maxPayloadBytes: number;

  /** Marks a method as callable by the worker (decorator or wrapper). See {@link outsideprocess}. */
  readonly outsideprocess = outsideprocess;

  /**
   * @param options.services where job methods are found, so that the defaults
   *   a method was marked with (`outsideprocess({ maxAttempts })`) apply to jobs
   *   added here; without it (or for a service not loaded here) the global
   *   defaults apply.
   * @param options.maxPayloadBytes largest params, in bytes of stored text. @default 1 MiB
   */
  constructor(store: JobStore, options: { clock?: Clock; services?: ServiceRegistry; maxPayloadBytes?: number } = {}) {
    this.store = store;
    this.#clock = options.clock ?? systemClock;
    this.#services = options.services;
    this.#maxPayloadBytes = options.maxPayloadBytes ?? 1024 * 1024;
    this.#watcher = new ResultWatcher(store);
  }

  /**
   * A handle for a job added earlier, by any process (after a restart too).
   * @throws JobNotFoundError for an unknown id.
   */
  async getJob<T = unknown>(id: number): Promise<JobHandle<T>> {
    const job = await this.store.getJob(assertJobId(id));
    if (job === undefined) throw new JobNotFoundError(id);
    return new JobHandle<T>(id, job.database, this.#watcher);
  }

  /** Runs `service.method(params)` as soon as a worker is free. */
  async add<T = unknown>(service: string, method: string, params?: unknown, options?: JobOptions): Promise<JobHandle<T>> {
    return this.#insert(service, method, params, 'now', options);
  }

  /**
   * Adds many jobs in one transaction: all of them or, if one is refused,
   * none. Far faster than `add` in a loop for large batches.
   */
  async addMany<T = unknown>(jobs: readonly BulkJob[]): Promise<JobHandle<T>[]> {
    if (!Array.isArray(jobs)) throw new InvalidArgumentError(`Expected \`jobs\` to be an array, got ${typeof jobs}`);
    if (jobs.length === 0) return [];
    // Rows are built as the store inserts them, inside its transaction: a refused job (thrown from #rows)
    // rolls back the ones before it, and only a chunk of rows is alive at a time, not one per job.
    // Iterable afresh, so that a store can add them again to a database that replaced a deleted one.
    const now = this.#clock.now();
    const { ids, database } = await this.store.addJobs({ [Symbol.iterator]: () => this.#rows(jobs, now) });
    return ids.map((id) => new JobHandle<T>(id, database, this.#watcher));
  }

  /** addMany's jobs, validated and serialized one by one as the store asks for them. */
  *#rows(jobs: readonly BulkJob[], now: number): Generator<NewJob> {
    // Bulk jobs mostly share target and options: resolve them once per run of equal ones, not per job.
    let last: { service: string; method: string; options: JobOptions | undefined; resolved: ResolvedTarget } | undefined;
    for (let index = 0; index < jobs.length; index++) {
      const job = jobs[index];
      if (typeof job !== 'object' || job === null) throw new InvalidArgumentError(`Expected \`jobs[${index}]\` to be an object, got ${String(job)}`);
      const runAt = job.runAt === undefined ? now : assertRunAt(job.runAt, `jobs[${index}].runAt`);
      // Checked before the message is built: this runs for every job of a batch.
      if (!hasOnlyKeys(job, BULK_JOB_KEYS)) assertKnownKeys(job, BULK_JOB_KEYS, `jobs[${index}]`, 'field');
      const { service, method, options } = job;
      // Jobs that run after others name entries relative to their own place: resolved each.
      if (last === undefined || last.service !== service || last.method !== method || last.options !== options || options?.after !== undefined) {
        assertJobOptionKeys(options, `jobs[${index}].options`);
        last = { service, method, options, resolved: this.#resolve(service, method, options, index) };
      }
      if (options?.debounce !== undefined && job.runAt !== undefined) throw new InvalidArgumentError(`\`jobs[${index}]\`: \`debounce\` sets the run time (now + seconds); drop runAt`);
      const target = options?.debounce === undefined ? last.resolved : this.#debounced(last.resolved, options, now);
      yield toNewJob(target, serialize(job.params, `jobs[${index}].params`, this.#maxPayloadBytes), debounceRunAt(options, now) ?? runAt, now);
    }
  }

  /** Runs `service.method(params)` at or after `runAt`, never before. */
  async addAsScheduled<T = unknown>(service: string, method: string, params: unknown, runAt: Date, options?: JobOptions): Promise<JobHandle<T>> {
    if (options?.debounce !== undefined) throw new InvalidArgumentError('`debounce` sets the run time (now + seconds): use add, not addAsScheduled');
    return this.#insert(service, method, params, assertRunAt(runAt, 'runAt'), options);
  }

  /**
   * Runs `service.method(params)` on a schedule: `every` seconds (first run at
   * once) or a cron expression (first run at its next fire time). Adding the
   * same signature (service, method, `name`) again replaces params and
   * schedule instead of adding a copy; an unchanged schedule keeps its next
   * run, so registering from `setup()` in every process is safe.
   */
  async addAsRecurring(service: string, method: string, params: unknown, every: number | string, options?: RecurringOptions): Promise<RecurringRecord> {
    assertName(service, 'service');
    assertName(method, 'method');
    assertRecurringOptionKeys(options);
    const name = options?.name ?? '';
    if (typeof name !== 'string') throw new InvalidArgumentError(`Expected \`name\` to be a string, got ${typeof name}`);
    const input = parseSchedule(every, options?.tz);
    const resolved = this.#options(options, service, method);
    const misfire = resolveMisfire(options?.misfire);
    const serialized = serialize(params, 'params', this.#maxPayloadBytes);
    const now = this.#clock.now();
    const { schedule, firstRunAt } = startSchedule(input, now);
    return this.store.upsertRecurring({
      service,
      method,
      name,
      params: serialized,
      everyMs: schedule.kind === 'every' ? schedule.everyMs : null,
      cron: schedule.kind === 'cron' ? schedule.cron : null,
      tz: schedule.kind === 'cron' ? schedule.tz : null,
      misfire,
      ...resolved,
      anchor: schedule.kind === 'every' ? schedule.anchor : now,
      nextRunAt: firstRunAt,
      createdAt: now,
    });
  }

  /** AMsoil's spelling of {@link addAsRecurring}. */
  addAsReccurring(service: string, method: string, params: unknown, every: number | string, options?: RecurringOptions): Promise<RecurringRecord> {
    return this.addAsRecurring(service, method, params, every, options);
  }

  /**
   * Cancels a job: a waiting job never starts; a running job's AbortSignal
   * fires and it ends `cancelled`. A finished job is left as it is.
   * @returns what happened: `cancelled`, `requested` (running; its worker aborts it) or `finished`.
   * @throws JobNotFoundError for an unknown id.
   */
  async cancel(id: number): Promise<CancelOutcome> {
    return this.store.cancel(assertJobId(id), this.#clock.now());
  }

  /**
   * Puts a failed or cancelled job back to waiting, due now, with all its attempts.
   * @throws JobNotFoundError for an unknown id; InvalidArgumentError if the job is not failed or cancelled.
   */
  async retry(id: number): Promise<void> {
    if (await this.store.retry(assertJobId(id), this.#clock.now())) return;
    const job = await this.store.getJob(id);
    if (job === undefined) throw new JobNotFoundError(id);
    throw new InvalidArgumentError(`job ${id} cannot be retried because ${NOT_RETRIABLE[job.state] ?? `it is ${job.state}`}: only failed or cancelled jobs can be retried`);
  }

  /**
   * Sets (or changes) the rate limit `name` for every worker on the
   * database: at most `limit` jobs added with `rateLimit: name` start in any
   * window of `perSeconds` (a sliding log of their starts, kept in the
   * database). A job over it waits for its slot, using no attempt.
   * @throws InvalidArgumentError naming a bad field.
   */
  async setRateLimit(name: string, options: { readonly limit: number; readonly perSeconds: number }): Promise<void> {
    const checked = resolveRateLimitName(name, 'name') ?? '';
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('Expected the options to be { limit, perSeconds }');
    assertKnownKeys(options, { limit: true, perSeconds: true }, 'options', 'option');
    const { limit, perSeconds } = options;
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
      throw new InvalidArgumentError(`Expected \`limit\` to be a positive integer, got \`${String(limit)}\``);
    }
    if (typeof perSeconds !== 'number' || !Number.isFinite(perSeconds) || perSeconds <= 0 || Math.round(perSeconds * 1000) < 1) {
      throw new InvalidArgumentError(`Expected \`perSeconds\` to be a positive number of seconds (at least 0.001), got \`${String(perSeconds)}\``);
    }
    await this.store.setRateLimit({ name: checked, limit, perMs: Math.round(perSeconds * 1000) });
  }

  /**
   * Pauses `target` for every worker on the database: `service.method`, or a
   * whole `service` (a name without a dot). Its jobs are not claimed until it
   * is resumed; running ones finish; adds still succeed.
   * @returns false if it was paused already.
   */
  async pause(target: string): Promise<boolean> {
    const { service, method } = parseTarget(target);
    return this.store.pause(service, method, this.#clock.now());
  }

  /**
   * Resumes what {@link pause} paused with the same `target`. A method paused
   * as part of its whole service stays paused until the service is resumed.
   * @returns false if it was not paused.
   */
  async resume(target: string): Promise<boolean> {
    const { service, method } = parseTarget(target);
    return this.store.resume(service, method);
  }

  /**
   * Removes the recurring job with this signature: `service.method`, or
   * `service.method#name` for a named one (as `jobs list --recurring` shows).
   * Occurrences already added stay.
   * @returns whether there was one.
   */
  async removeRecurring(signature: string): Promise<boolean> {
    const { service, method, name } = parseSignature(signature);
    return this.store.removeRecurring(service, method, name);
  }

  /**
   * Pauses the recurring job with this signature (as {@link removeRecurring}
   * takes it): it enqueues nothing until {@link resumeRecurring}, whichever
   * process runs the workers; occurrences already added stay, and adding it
   * again (as `setup()` does at every start) keeps it paused.
   * @returns whether there is one.
   */
  async pauseRecurring(signature: string): Promise<boolean> {
    const record = await this.#recurring(signature);
    return record !== undefined && this.store.pauseRecurring(record.id, this.#clock.now());
  }

  /**
   * Resumes a paused recurring job: it runs next at its first fire time from
   * now on; every occurrence due before the resume is skipped (those that fell
   * while it was paused, and any already overdue when it was paused).
   * @returns whether there is one.
   */
  async resumeRecurring(signature: string): Promise<boolean> {
    const record = await this.#recurring(signature);
    return record !== undefined && this.store.resumeRecurring(record.id, resumeAt(record, this.#clock.now()));
  }

  async #recurring(signature: string): Promise<RecurringRecord | undefined> {
    const { service, method, name } = parseSignature(signature);
    return (await this.store.listRecurring()).find((r) => r.service === service && r.method === method && r.name === name);
  }

  /**
   * Validates the options of a job of `service.method`. Only the priority
   * takes the method's default here (it orders the claim, so it is fixed
   * when the job is added); attempts and timeout the caller did not give are
   * stored as not given (0, null) and take the method's defaults where the
   * job runs (Worker; JobStore.applyDefaults), as they are then, wherever
   * the job was added from (the `jobs` command loads no plugins).
   */
  #options(options: JobOptions | undefined, service: string, method: string): ResolvedJobOptions {
    const resolved = resolveJobOptions(options, { priority: this.#methodDefaults(service, method).priority });
    return {
      maxAttempts: options?.maxAttempts === undefined ? 0 : resolved.maxAttempts,
      timeoutMs: options?.timeout === undefined ? null : resolved.timeoutMs,
      priority: resolved.priority,
    };
  }

  #methodDefaults(service: string, method: string): MethodOptions {
    if (this.#services === undefined) return {};
    try {
      return resolveTarget(this.#services, service, method).options;
    } catch (error) {
      // The target may live in a plugin this process does not load; the worker checks it when the job runs.
      if (error instanceof JobTargetError) return {};
      throw error;
    }
  }

  async #insert<T>(service: string, method: string, params: unknown, runAt: number | 'now', options: JobOptions | undefined): Promise<JobHandle<T>> {
    assertJobOptionKeys(options);
    const now = this.#clock.now();
    const { id, database } = await this.store.addJob(this.#row(service, method, params, runAt === 'now' ? now : runAt, options, now));
    return new JobHandle<T>(id, database, this.#watcher);
  }

  /** Validates and serializes one job for the store. */
  #row(service: string, method: string, params: unknown, runAt: number, options: JobOptions | undefined, now: number): NewJob {
    const target = this.#resolve(service, method, options);
    return toNewJob(this.#debounced(target, options, now), serialize(params, 'params', this.#maxPayloadBytes), debounceRunAt(options, now) ?? runAt, now);
  }

  /** A debounced job's store form: its key and the latest its run time may move to. */
  #debounced(target: ResolvedTarget, options: JobOptions | undefined, now: number): ResolvedTarget {
    const debounce = resolveDebounce(options?.debounce);
    if (debounce === undefined) return target;
    if (target.key !== null && target.key !== undefined) throw new InvalidArgumentError('`debounce` and a unique `key` both decide which job an add joins: give one');
    if (target.after !== undefined) throw new InvalidArgumentError('`debounce` and `after` cannot go together: a debounced add may join a job added with other parents');
    return { ...target, debounce: { key: debounce.key, untilAt: debounce.maxSeconds === null ? null : now + Math.round(debounce.maxSeconds * 1000) } };
  }

  /** Validates a job's target and options, with the method's defaults applied. */
  #resolve(service: string, method: string, options: JobOptions | undefined, entries?: number): ResolvedTarget {
    assertName(service, 'service');
    assertName(method, 'method');
    const { maxAttempts, timeoutMs, priority } = this.#options(options, service, method);
    const concurrency = resolveConcurrency(options?.concurrency ?? this.#methodDefaults(service, method).concurrency);
    const rateLimit = resolveRateLimitName(options?.rateLimit);
    const target: ResolvedTarget = {
      service, method, maxAttempts, timeoutMs, priority, key: resolveKey(options?.key), tags: resolveTags(options?.tags),
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(rateLimit === undefined ? {} : { rateLimit }),
    };
    const after = resolveAfter(options?.after, entries);
    const onParentFailure = resolveOnParentFailure(options?.onParentFailure);
    if (after === undefined) {
      if (onParentFailure !== undefined) throw new InvalidArgumentError('`onParentFailure` applies only to a job with `after`');
      return target;
    }
    return { ...target, after, onParentFailure: onParentFailure ?? 'cancel' };
  }
}

/** What {@link WorkerService.#resolve} makes of a target and its options: a {@link NewJob} without params and times. */
type ResolvedTarget = Omit<NewJob, 'params' | 'runAt' | 'createdAt'>;

/** Property by property, not by spreading: every job gets the same object shape, and no copy of `target`'s. */
function toNewJob(target: ResolvedTarget, params: string, runAt: number, createdAt: number): NewJob {
  return {
    service: target.service,
    method: target.method,
    params,
    runAt,
    priority: target.priority,
    maxAttempts: target.maxAttempts,
    timeoutMs: target.timeoutMs,
    createdAt,
    key: target.key ?? null,
    tags: target.tags ?? null,
    ...(target.after === undefined ? {} : { after: target.after, onParentFailure: target.onParentFailure ?? 'cancel' }),
    ...(target.concurrency === undefined || target.concurrency === null ? {} : { concurrency: target.concurrency }),
    ...(target.debounce === undefined || target.debounce === null ? {} : { debounce: target.debounce }),
    ...(target.rateLimit === undefined || target.rateLimit === null ? {} : { rateLimit: target.rateLimit }),
  };
}

/** The run time a debounced add asks for: now + its seconds. */
function debounceRunAt(options: JobOptions | undefined, now: number): number | undefined {
  const debounce = resolveDebounce(options?.debounce);
  return debounce === undefined ? undefined : now + Math.round(debounce.seconds * 1000);
}

/** Why `retry` refuses a job in this state, in words (failed and cancelled jobs are retried). */
const NOT_RETRIABLE: Partial<Record<JobState, string>> = {
  succeeded: 'it succeeded (add a new job to run it again)',
  waiting: 'it is waiting to run already',
  running: 'it is running',
};

/** `service.method` or `service.method#name`. Service names may hold dots; method names do not. */
export function parseSignature(signature: string): { service: string; method: string; name: string } {
  const hash = signature.indexOf('#');
  const target = hash === -1 ? signature : signature.slice(0, hash);
  const name = hash === -1 ? '' : signature.slice(hash + 1);
  const dot = target.lastIndexOf('.');
  if (dot <= 0 || dot === target.length - 1 || (hash !== -1 && name === '')) {
    throw new InvalidArgumentError(`Expected a recurring job signature such as "service.method" or "service.method#name", got \`${signature}\``);
  }
  return { service: target.slice(0, dot), method: target.slice(dot + 1), name };
}

/** `service.method` (split at the last dot: service names may hold dots) or a whole `service` (no dot). */
export function parseTarget(target: unknown): { service: string; method: string | null } {
  if (typeof target !== 'string' || target === '' || target.startsWith('.') || target.endsWith('.') || target.includes('#')) {
    throw new InvalidArgumentError(`Expected a target such as "service.method" or "service", got \`${String(target)}\``);
  }
  const dot = target.lastIndexOf('.');
  return dot === -1 ? { service: target, method: null } : { service: target.slice(0, dot), method: target.slice(dot + 1) };
}

function assertRunAt(runAt: unknown, argument: string): number {
  if (!(runAt instanceof Date) || Number.isNaN(runAt.getTime())) {
    throw new InvalidArgumentError(`Expected \`${argument}\` to be a valid Date, got ${runAt instanceof Date ? 'an invalid Date' : `\`${String(runAt)}\` (${typeof runAt})`}`);
  }
  return runAt.getTime();
}

function assertJobId(id: unknown): number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
    throw new InvalidArgumentError(`Expected a job id (a positive integer), got \`${String(id)}\``);
  }
  return id;
}
