import { InvalidArgumentError, JobNotFoundError, RecurringNotFoundError } from '../errors.ts';
import { JOB_STATES, type JobState } from '../store/job-store.ts';
import { parseSchedule } from '../schedule/schedule.ts';
import { deserialize } from '../serialization/payload.ts';
import type { Priority } from '../worker/job-options.ts';
import type { WorkerService } from '../worker/worker-service.ts';
import { waitForJob, type WaitOptions } from './wait-for-job.ts';
import {
  attemptErrorToJson, noteToJson, jobDetails, jobsTable, jobToJson, readableValue, recurringTable, recurringToJson, statsText, statsToJson, workersTable, workerToJson,
} from './format.ts';

/** Where `jobs` subcommands write; injectable so tests read the output directly. */
export interface Output {
  /** A line. */
  out(text: string): void;
  /** Text as it is (a progress bar redrawn in place). */
  write(text: string): void;
  /** A line on stderr: a notice beside the output, not part of it. */
  err(text: string): void;
}

/** `[#########...........]  45% (45/100)` */
export function progressBar(current: number, total: number, width = 30): string {
  const share = total > 0 ? Math.min(1, Math.max(0, current / total)) : 0;
  const filled = Math.round(share * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(share * 100)).padStart(3)}% (${current}/${total})`;
}

/** Flags of `jobs add`. */
export interface AddFlags {
  readonly params?: string;
  readonly paramsSuperjson?: string;
  readonly at?: string;
  readonly every?: string;
  readonly cron?: string;
  readonly tz?: string;
  readonly name?: string;
  readonly attempts?: string;
  readonly timeout?: string;
  readonly priority?: string;
  readonly key?: string;
  readonly tag?: readonly string[];
  readonly after?: readonly string[];
  readonly concurrencyKey?: string;
  readonly concurrencyLimit?: string;
  readonly wait?: boolean;
  readonly waitTimeout?: string;
}

/**
 * `jobs add SERVICE METHOD`: prints the new job's id (or the recurring job's id).
 * @param waiting where the jobs are, for `--wait`'s messages, and when it says that no worker claims the job.
 */
export async function addJob(
  worker: WorkerService,
  service: string,
  method: string,
  flags: AddFlags,
  output: Output,
  waiting: Omit<WaitOptions, 'timeoutSeconds'>,
): Promise<void> {
  assertMethodName(method);
  if (flags.waitTimeout !== undefined && flags.wait !== true) throw new InvalidArgumentError('--wait-timeout applies to --wait: add --wait, or drop it');
  const waitTimeout = flags.waitTimeout === undefined ? undefined : parseSeconds(flags.waitTimeout, '--wait-timeout');
  if (flags.params !== undefined && flags.paramsSuperjson !== undefined) {
    throw new InvalidArgumentError('--params and --params-superjson exclude each other: give the params once');
  }
  const params = flags.paramsSuperjson !== undefined ? parseSuperjsonParams(flags.paramsSuperjson) : parseParams(flags.params);
  const kinds = [flags.at, flags.every, flags.cron].filter((v) => v !== undefined).length;
  if (kinds > 1) throw new InvalidArgumentError('--at, --every and --cron exclude each other: give at most one');
  if (flags.tz !== undefined && flags.cron === undefined) throw new InvalidArgumentError('--tz applies to --cron only');
  if (flags.name !== undefined && flags.every === undefined && flags.cron === undefined) {
    throw new InvalidArgumentError('--name names a recurring job: use it with --every or --cron');
  }
  const options = {
    ...(flags.attempts === undefined ? {} : { maxAttempts: parseAttempts(flags.attempts) }),
    ...(flags.timeout === undefined ? {} : { timeout: parseSeconds(flags.timeout, '--timeout') }),
    ...(flags.priority === undefined ? {} : { priority: /^-?\d+$/.test(flags.priority) ? Number(flags.priority) : (flags.priority as Priority) }),
  };
  const recurring = flags.every !== undefined || flags.cron !== undefined;
  if (recurring && (flags.key !== undefined || flags.tag !== undefined || flags.wait === true || flags.after !== undefined)) {
    throw new InvalidArgumentError('--key, --tag, --after and --wait apply to one-off jobs, not to --every or --cron');
  }
  if (flags.concurrencyLimit !== undefined && flags.concurrencyKey === undefined) {
    throw new InvalidArgumentError('--concurrency-limit applies to --concurrency-key: add the key');
  }
  if (recurring && flags.concurrencyKey !== undefined) throw new InvalidArgumentError('--concurrency-key applies to one-off jobs, not to --every or --cron');
  if (recurring) {
    // Checked here too so that a bad one is named by its flag, not by the API's argument.
    if (flags.cron !== undefined) parseSchedule(flags.cron, flags.tz, { every: '--cron', tz: '--tz' });
    const every = flags.every !== undefined ? parseSeconds(flags.every, '--every') : (flags.cron ?? '');
    const record = await worker.addAsRecurring(service, method, params, every, {
      ...options,
      ...(flags.tz === undefined ? {} : { tz: flags.tz }),
      ...(flags.name === undefined ? {} : { name: flags.name }),
    });
    output.out(String(record.id));
    return;
  }
  const oneOff = {
    ...options,
    ...(flags.key === undefined ? {} : { key: flags.key }),
    ...(flags.tag === undefined ? {} : { tags: flags.tag }),
    ...(flags.after === undefined ? {} : { after: flags.after.map((text) => parsePositiveInteger(text, '--after')) }),
    ...(flags.concurrencyKey === undefined ? {} : {
      concurrency: { key: flags.concurrencyKey, limit: flags.concurrencyLimit === undefined ? 1 : parsePositiveInteger(flags.concurrencyLimit, '--concurrency-limit') },
    }),
  };
  const handle = flags.at !== undefined
    ? await worker.addAsScheduled(service, method, params, parseInstant(flags.at), oneOff)
    : await worker.add(service, method, params, oneOff);
  if (flags.wait !== true) {
    output.out(String(handle.id));
    return;
  }
  // A foreground job (Gearman's SUBMIT_JOB): the result on stdout, a failure as the exit status.
  const result = await waitForJob(worker, handle, { ...waiting, timeoutSeconds: waitTimeout }, output);
  output.out(JSON.stringify(readableValue(result), null, 2) ?? 'undefined');
}

/** `jobs show ID --watch`: progress and notes as they come, then the finished job. */
export async function watchJob(worker: WorkerService, idText: string, output: Output, live: boolean): Promise<void> {
  const id = parsePositiveInteger(idText, 'ID');
  const handle = await worker.getJob(id);
  const stop = handle.onProgress((event) => {
    if (event.type === 'progress') {
      const line = progressBar(event.current, event.total);
      if (live) output.write(`\r${line}`);
      else output.out(line);
    } else {
      output.out(`${live ? '\n' : ''}${event.type}: ${event.message}`);
    }
  });
  try {
    await handle.result();
  } catch {
    // The outcome is what the details below show.
  } finally {
    stop();
  }
  if (live) output.write('\n');
  await showJob(worker, idText, {}, output);
}

/** `jobs list`. */
export async function listJobs(
  worker: WorkerService,
  flags: { state?: string; recurring?: boolean; json?: boolean; limit?: string; tag?: string },
  output: Output,
): Promise<void> {
  if (flags.recurring === true) {
    if (flags.state !== undefined || flags.tag !== undefined) {
      throw new InvalidArgumentError('--state and --tag filter jobs, not recurring jobs: drop them or --recurring');
    }
    const records = await worker.store.listRecurring();
    output.out(flags.json === true ? JSON.stringify(records.map(recurringToJson), null, 2) : recurringTable(records));
    return;
  }
  const state = flags.state === undefined ? undefined : parseState(flags.state);
  const limit = flags.limit === undefined ? 100 : parsePositiveInteger(flags.limit, '--limit');
  const jobs = await worker.store.listJobs({ ...(state === undefined ? {} : { state }), ...(flags.tag === undefined ? {} : { tag: flags.tag }), limit });
  output.out(flags.json === true ? JSON.stringify(jobs.map(jobToJson), null, 2) : jobsTable(jobs));
}

/** `jobs stats`: jobs by state, how long the oldest due job has waited, failed attempts per method in the last hour. */
export async function showStats(worker: WorkerService, flags: { json?: boolean }, output: Output): Promise<void> {
  const stats = await worker.store.stats(Date.now());
  output.out(flags.json === true ? JSON.stringify(statsToJson(stats), null, 2) : statsText(stats));
}

/** `jobs workers`: the worker processes the database knows, what each runs and when it last beat. */
export async function listWorkers(worker: WorkerService, flags: { json?: boolean }, output: Output): Promise<void> {
  const workers = await worker.store.workers(Date.now());
  if (flags.json === true) {
    output.out(JSON.stringify(workers.map(workerToJson), null, 2));
  } else if (workers.length === 0) {
    // Not "no worker runs": a worker registers with its first claim (see JobStore.workers).
    output.out('no workers known to this database: a worker appears here once it has claimed its first job, and leaves when it stops');
  } else {
    output.out(workersTable(workers));
  }
}

/** `jobs show ID`: the job and every failed attempt's error. */
export async function showJob(worker: WorkerService, idText: string, flags: { json?: boolean }, output: Output): Promise<void> {
  const id = parsePositiveInteger(idText, 'ID');
  const job = await worker.store.getJob(id);
  if (job === undefined) throw new JobNotFoundError(id);
  const errors = await worker.store.getJobErrors(id);
  const notes = await worker.store.getJobNotes(id);
  const stateOf = async (other: number): Promise<{ id: number; state: string }> => ({ id: other, state: (await worker.store.getJob(other))?.state ?? 'pruned' });
  const relations = {
    parents: await Promise.all(job.after.map(stateOf)),
    dependants: await Promise.all((await worker.store.dependantsOf(id)).map(stateOf)),
  };
  output.out(flags.json === true
    ? JSON.stringify({ ...jobToJson(job), errors: errors.map(attemptErrorToJson), notes: notes.map(noteToJson), ...relations }, null, 2)
    : jobDetails(job, errors, notes, relations));
}

/** `jobs cancel ID`. */
export async function cancelJob(worker: WorkerService, idText: string, output: Output): Promise<void> {
  const id = parsePositiveInteger(idText, 'ID');
  const outcome = await worker.cancel(id);
  output.out(
    outcome === 'cancelled' ? `job ${id} cancelled`
      : outcome === 'requested' ? `job ${id} is running: its worker was asked to abort it`
        : `job ${id} had already finished; nothing to cancel`,
  );
}

/** `jobs retry ID`. */
export async function retryJob(worker: WorkerService, idText: string, output: Output): Promise<void> {
  const id = parsePositiveInteger(idText, 'ID');
  await worker.retry(id);
  output.out(`job ${id} is waiting again`);
}

/** `jobs pause TARGET` and `jobs resume TARGET`. */
export async function pauseOrResume(worker: WorkerService, target: string, action: 'pause' | 'resume', output: Output): Promise<void> {
  if (action === 'pause') {
    output.out((await worker.pause(target)) ? `paused ${target}: its jobs wait until jobs resume ${target}` : `${target} was paused already`);
  } else {
    output.out((await worker.resume(target)) ? `resumed ${target}` : `${target} was not paused`);
  }
}

/** `jobs paused`: what is paused. */
export async function listPausedTargets(worker: WorkerService, flags: { json?: boolean }, output: Output): Promise<void> {
  const paused = await worker.store.listPaused();
  if (flags.json === true) {
    output.out(JSON.stringify(paused.map((p) => ({ ...p, at: new Date(p.at).toISOString() })), null, 2));
    return;
  }
  output.out(paused.length === 0 ? 'nothing is paused' : paused.map((p) => `${p.method === null ? p.service : `${p.service}.${p.method}`}  since ${new Date(p.at).toISOString()}`).join('\n'));
}

/** `jobs remove-recurring SIGNATURE`. */
export async function removeRecurring(worker: WorkerService, signature: string, output: Output): Promise<void> {
  if (!(await worker.removeRecurring(signature))) throw new RecurringNotFoundError(signature);
  output.out(`removed recurring job ${signature}`);
}

/** `jobs pause-recurring SIGNATURE` and `jobs resume-recurring SIGNATURE`. */
export async function pauseRecurring(worker: WorkerService, signature: string, pause: boolean, output: Output): Promise<void> {
  const found = pause ? await worker.pauseRecurring(signature) : await worker.resumeRecurring(signature);
  if (!found) throw new RecurringNotFoundError(signature);
  output.out(`${pause ? 'paused' : 'resumed'} recurring job ${signature}`);
}

/** `jobs clear --recurring`: what deleting the database did in AMsoil, keeping the history. */
export async function clearJobs(worker: WorkerService, flags: { recurring?: boolean }, output: Output): Promise<void> {
  if (flags.recurring !== true) {
    throw new InvalidArgumentError('jobs clear needs --recurring (the only kind of clearing there is; finished jobs are kept as history)');
  }
  const removed = await worker.store.clearRecurring();
  output.out(`removed ${removed} recurring job${removed === 1 ? '' : 's'}`);
}

function parseParams(text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`--params must be JSON, got \`${text}\`: ${(error as Error).message}`);
  }
}

/**
 * Params with their types, in the form `jobs show --json` prints as
 * `paramsSuperjson`: `{"json": …, "meta": …}`, where `meta` says which values
 * of `json` are a Date, a BigInt, a Map… (superjson's format). Only the types
 * params may hold get through: `add` checks the result as it checks any params.
 */
function parseSuperjsonParams(text: string): unknown {
  const expected = 'an object {"json": …, "meta": …} as `jobs show --json` prints in "paramsSuperjson"';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`--params-superjson must be JSON, got \`${text}\`: ${(error as Error).message}`);
  }
  const fields = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.keys(value) : undefined;
  if (fields === undefined || !fields.includes('json') || fields.some((field) => field !== 'json' && field !== 'meta')) {
    throw new InvalidArgumentError(`--params-superjson must be ${expected}, got \`${text}\``);
  }
  const meta = (value as { meta?: unknown }).meta;
  if (meta !== undefined && (typeof meta !== 'object' || meta === null || Array.isArray(meta))) {
    throw new InvalidArgumentError(`--params-superjson must be ${expected}: its "meta" must be an object, got \`${JSON.stringify(meta)}\``);
  }
  try {
    return deserialize(JSON.stringify(value));
  } catch (error) {
    throw new InvalidArgumentError(`--params-superjson has a "meta" that does not fit its "json" (${(error as Error).message}): pass "paramsSuperjson" from \`jobs show --json\` as it is`);
  }
}

/** ISO-8601 with a zone (Z or ±hh:mm): a bare local time means different instants on different machines. */
function parseInstant(text: string): Date {
  const withZone = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/i;
  const date = new Date(text);
  if (!withZone.test(text) || Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError(`--at must be an ISO-8601 instant with a zone, such as 2026-05-01T09:30:00Z or 2026-05-01T11:30:00+02:00; got \`${text}\``);
  }
  return date;
}

function parseSeconds(text: string, flag: string): number {
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new InvalidArgumentError(`${flag} must be a positive number of seconds, got \`${text}\``);
  }
  return seconds;
}

function parseInteger(text: string, flag: string): number {
  if (!/^-?\d+$/.test(text)) throw new InvalidArgumentError(`${flag} must be an integer, got \`${text}\``);
  return Number(text);
}

function parseAttempts(text: string): number {
  const attempts = parseInteger(text, '--attempts');
  if (attempts < 1) throw new InvalidArgumentError(`--attempts must be an integer >= 1, got \`${text}\``);
  return attempts;
}

function parseState(text: string): JobState {
  if ((JOB_STATES as readonly string[]).includes(text)) return text as JobState;
  throw new InvalidArgumentError(`--state must be one of ${JOB_STATES.join(', ')}; got \`${text}\``);
}

function parsePositiveInteger(text: string, what: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`${what} must be a positive integer, got \`${text}\``);
  }
  return value;
}

/**
 * `jobs add` loads no plugins, so it cannot check that the method exists; it
 * can refuse what no method is called (`jobs add mail.send '{"to":…}'`, the
 * target as one word and the params where the method goes), which would
 * otherwise wait in the database and fail in the worker.
 */
function assertMethodName(method: string): void {
  if (/^[\p{L}_$][\p{L}\p{N}_$]*$/u.test(method)) return;
  const hint = /^[[{"]/.test(method) ? `; params go in --params, e.g. jobs add mail send --params '{"to":"ada@example.org"}'` : '';
  throw new InvalidArgumentError(`Expected <method> to be a method name (letters, digits, _ and $, not starting with a digit), got \`${method}\`${hint}`);
}
