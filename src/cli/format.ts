import SuperJSON from 'superjson';
import { JOB_STATES, type AttemptError, type JobNote, type JobRecord, type JobState, type JobStats, type RecurringRecord, type WorkerInfo } from '../store/job-store.ts';

/*
 * How jobs look on the command line. `--json` output is one JSON value with
 * stable field names for scripts; the human form is an aligned table.
 * Params and results are shown as the readable JSON part of their stored
 * form (a Date as its ISO string, a BigInt as its digits).
 */

/** A job as `--json` prints it. */
export interface JobJson {
  id: number;
  service: string;
  method: string;
  params: unknown;
  /**
   * The params as stored, types and all: superjson's `{ json, meta }`, where
   * `meta` (absent for plain JSON) says which values are a Date, BigInt, Map….
   * `jobs add --params-superjson` takes it back.
   */
  paramsSuperjson: { json: unknown; meta?: unknown };
  state: string;
  priority: number;
  attempts: number;
  maxAttempts: number;
  timeoutSeconds: number | null;
  runAt: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  result: unknown;
  error: { name: string; message: string; stack?: string } | null;
  recurringId: number | null;
  fireTime: string | null;
  key: string | null;
  tags: readonly string[];
  /** The jobs it runs after, in order; `waitingFor`: how many of them it still waits for. */
  after: readonly number[];
  waitingFor: number;
  /** The job whose failure or cancellation cancelled it. */
  cancelledBy: number | null;
  /** Its concurrency key and limit; `parked`: waiting because the key is full. */
  concurrency: { key: string; limit: number } | null;
  parked: boolean;
  /** Waiting because its service or method is paused (set once a claim or the pause met it). */
  held: boolean;
  progress: { current: number; total: number; at: string } | null;
}

/** A recurring job as `--json` prints it. */
export interface RecurringJson {
  id: number;
  service: string;
  method: string;
  name: string;
  signature: string;
  params: unknown;
  every: number | null;
  cron: string | null;
  tz: string | null;
  misfire: string;
  nextRunAt: string;
  /** When it was paused (`jobs pause-recurring`), or null. */
  pausedAt: string | null;
}

/** `jobs stats --json`. Durations in seconds, instants as ISO-8601, as elsewhere in `--json` output. */
export interface StatsJson {
  at: string;
  counts: Record<JobState, number>;
  /** Waiting jobs whose run time has come; `scheduledLater` are the other waiting ones. */
  due: number;
  scheduledLater: number;
  /** How long the longest-due waiting job has been due; null when none is due. */
  oldestDueSeconds: number | null;
  failuresLastHour: { service: string; method: string; failures: number }[];
}

/** A worker as `jobs workers --json` prints it. */
export interface WorkerJson {
  owner: string;
  host: string | null;
  pid: number | null;
  runningJobs: number;
  lastHeartbeatAt: string | null;
  heartbeatAgeSeconds: number | null;
}

export function statsToJson(stats: JobStats): StatsJson {
  return {
    at: iso(stats.at),
    counts: { ...stats.counts },
    due: stats.due,
    scheduledLater: stats.counts.waiting - stats.due,
    oldestDueSeconds: stats.oldestDueMs === null ? null : stats.oldestDueMs / 1000,
    failuresLastHour: stats.failuresLastHour.map((f) => ({ ...f })),
  };
}

export function workerToJson(worker: WorkerInfo): WorkerJson {
  return {
    owner: worker.owner,
    host: worker.host,
    pid: worker.pid,
    runningJobs: worker.runningJobs,
    lastHeartbeatAt: isoOrNull(worker.lastHeartbeatAt),
    heartbeatAgeSeconds: worker.heartbeatAgeMs === null ? null : worker.heartbeatAgeMs / 1000,
  };
}

/** `jobs stats`: a line per state, the oldest due job's wait, then failures per method. */
export function statsText(stats: JobStats): string {
  const width = Math.max(...JOB_STATES.map((state) => state.length));
  const digits = Math.max(...JOB_STATES.map((state) => String(stats.counts[state]).length));
  const lines = JOB_STATES.map((state) => {
    const line = `${state.padEnd(width)}  ${String(stats.counts[state]).padStart(digits)}`;
    return state === 'waiting' ? `${line}  (${stats.due} due, ${stats.counts.waiting - stats.due} scheduled for later)` : line;
  });
  lines.push('', `oldest due job: ${stats.oldestDueMs === null ? 'none is due' : `due for ${duration(stats.oldestDueMs)}`}`);
  if (stats.failuresLastHour.length === 0) {
    lines.push('failed attempts in the last hour: none');
  } else {
    lines.push('failed attempts in the last hour:', indentBlock(table(['JOB', 'FAILURES'], stats.failuresLastHour.map((f) => [`${f.service}.${f.method}`, String(f.failures)]))));
  }
  return lines.join('\n');
}

/** `jobs workers`. */
export function workersTable(workers: readonly WorkerInfo[]): string {
  return table(
    ['HOST', 'PID', 'RUNNING', 'LAST HEARTBEAT', 'OWNER'],
    workers.map((w) => [
      w.host ?? '?',
      w.pid === null ? '?' : String(w.pid),
      String(w.runningJobs),
      w.heartbeatAgeMs === null ? 'none yet' : `${duration(Math.max(0, w.heartbeatAgeMs))} ago`,
      w.owner,
    ]),
  );
}

/** 850 ms, 12.5 s, 3 min 20 s, 2 h 5 min: what a person reads at a glance. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.floor((ms % 60_000) / 1000)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export function jobToJson(job: JobRecord): JobJson {
  return {
    id: job.id,
    service: job.service,
    method: job.method,
    params: readable(job.params),
    paramsSuperjson: JSON.parse(job.params) as { json: unknown; meta?: unknown },
    state: job.state,
    priority: job.priority,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    timeoutSeconds: job.timeoutMs === null ? null : job.timeoutMs / 1000,
    runAt: iso(job.runAt),
    createdAt: iso(job.createdAt),
    startedAt: isoOrNull(job.startedAt),
    finishedAt: isoOrNull(job.finishedAt),
    result: job.result === null ? null : readable(job.result),
    error: job.error,
    recurringId: job.recurringId,
    fireTime: isoOrNull(job.fireTime),
    key: job.key,
    tags: job.tags,
    after: job.after,
    waitingFor: job.waitingFor,
    cancelledBy: job.cancelledBy,
    concurrency: job.concurrency,
    parked: job.parked,
    held: job.held,
    progress: job.progress === null ? null : { current: job.progress.current, total: job.progress.total, at: iso(job.progress.at) },
  };
}

export function recurringToJson(record: RecurringRecord): RecurringJson {
  return {
    id: record.id,
    service: record.service,
    method: record.method,
    name: record.name,
    signature: signatureOf(record),
    params: readable(record.params),
    every: record.everyMs === null ? null : record.everyMs / 1000,
    cron: record.cron,
    tz: record.tz,
    misfire: record.misfire,
    nextRunAt: iso(record.nextRunAt),
    pausedAt: record.pausedAt === null ? null : iso(record.pausedAt),
  };
}

/** `service.method`, plus `#name` when the recurring job has one. */
export function signatureOf(record: { service: string; method: string; name: string }): string {
  return `${record.service}.${record.method}${record.name === '' ? '' : `#${record.name}`}`;
}

export function jobsTable(jobs: readonly JobRecord[]): string {
  return table(
    ['ID', 'STATE', 'JOB', 'ATTEMPTS', 'RUN AT', 'OUTCOME'],
    jobs.map((job) => [
      String(job.id),
      job.state,
      `${job.service}.${job.method}`,
      `${job.attempts}/${job.maxAttempts === 0 ? '?' : job.maxAttempts}`,
      iso(job.runAt),
      truncate(job.error !== null ? `${job.error.name}: ${job.error.message}` : job.result === null ? '' : JSON.stringify(readable(job.result)), 60),
    ]),
  );
}

export function recurringTable(records: readonly RecurringRecord[]): string {
  return table(
    ['ID', 'SIGNATURE', 'SCHEDULE', 'TZ', 'MISFIRE', 'NEXT RUN'],
    records.map((r) => [
      String(r.id),
      signatureOf(r),
      r.everyMs !== null ? `every ${r.everyMs / 1000} s` : (r.cron ?? ''),
      r.tz ?? '',
      r.misfire,
      r.pausedAt === null ? iso(r.nextRunAt) : `paused since ${iso(r.pausedAt)}`,
    ]),
  );
}

/** An attempt's error as `--json` prints it. */
export function attemptErrorToJson(error: AttemptError): { attempt: number; at: string; name: string; message: string; stack?: string } {
  return { attempt: error.attempt, at: iso(error.at), name: error.name, message: error.message, ...(error.stack === undefined ? {} : { stack: error.stack }) };
}

/** A note as `--json` prints it. */
export function noteToJson(note: JobNote): { level: string; message: string; at: string } {
  return { level: note.level, message: note.message, at: iso(note.at) };
}

/** `jobs show`: one field per line, params and result pretty-printed, notes, every attempt's error with its stack. */
/** Jobs a job runs after, or that run after it, with their states (`jobs show`). */
export interface JobRelations {
  readonly parents: readonly { readonly id: number; readonly state: string }[];
  readonly dependants: readonly { readonly id: number; readonly state: string }[];
}

export function jobDetails(job: JobRecord, errors: readonly AttemptError[] = [], notes: readonly JobNote[] = [], relations?: JobRelations): string {
  const json = jobToJson(job);
  const lines: [string, string][] = [
    ['id', String(json.id)],
    ['job', `${json.service}.${json.method}`],
    ['state', json.state],
    ['attempts', json.maxAttempts === 0 ? `${json.attempts} (of the method's default, applied when it runs)` : `${json.attempts} of ${json.maxAttempts}`],
    ['priority', String(json.priority)],
    ['timeout', json.timeoutSeconds === null ? 'none given (the method\'s or the worker\'s default applies)' : `${json.timeoutSeconds} s`],
    ['run at', json.runAt],
    ['created', json.createdAt],
    ['started', json.startedAt ?? '-'],
    ['finished', json.finishedAt ?? '-'],
  ];
  if (json.recurringId !== null) lines.push(['recurring', `#${json.recurringId}, fire time ${json.fireTime ?? '-'}`]);
  if (json.key !== null) lines.push(['key', json.key]);
  if (json.tags.length > 0) lines.push(['tags', json.tags.join(', ')]);
  const listed = (jobs: JobRelations['parents']): string => jobs.map(({ id, state }) => `#${id} ${state}`).join(', ');
  if (relations !== undefined && relations.parents.length > 0) {
    lines.push(['runs after', `${listed(relations.parents)}${json.state === 'waiting' && json.waitingFor > 0 ? ` (waiting for ${json.waitingFor})` : ''}`]);
  }
  if (relations !== undefined && relations.dependants.length > 0) lines.push(['dependants', listed(relations.dependants)]);
  if (job.concurrency !== null) lines.push(['concurrency', `key "${job.concurrency.key}", at most ${job.concurrency.limit} at once${job.parked ? ' (waiting: the key is full)' : ''}`]);
  if (json.cancelledBy !== null) lines.push(['cancelled by', `#${json.cancelledBy} (a job it runs after ended without success)`]);
  if (json.progress !== null) lines.push(['progress', `${json.progress.current}/${json.progress.total} at ${json.progress.at}`]);
  lines.push(['params', indent(JSON.stringify(json.params, null, 2))]);
  if (json.result !== null) lines.push(['result', indent(JSON.stringify(json.result, null, 2))]);
  if (json.error !== null) lines.push(['error', indent(json.error.stack ?? `${json.error.name}: ${json.error.message}`)]);
  for (const n of notes) lines.push([n.level, `${iso(n.at)} ${n.message}`]);
  for (const e of errors) {
    lines.push([`attempt ${e.attempt}`, indent(`${iso(e.at)} ${e.stack ?? `${e.name}: ${e.message}`}`)]);
  }
  const width = Math.max(...lines.map(([key]) => key.length));
  return lines.map(([key, value]) => `${(key + ':').padEnd(width + 1)} ${value}`).join('\n');
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const render = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ').trimEnd();
  return [render(headers), ...rows.map(render)].join('\n');
}

function readable(text: string): unknown {
  return (JSON.parse(text) as { json?: unknown }).json ?? null;
}

/** A deserialized value as the JSON people read: a Date as its ISO string, a BigInt as its digits, a Map as pairs. */
export function readableValue(value: unknown): unknown {
  return SuperJSON.serialize(value).json ?? null;
}

function iso(ms: number): string {
  return ms >= 8.64e15 ? 'never' : new Date(ms).toISOString();
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}

function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}

function indentBlock(text: string): string {
  return text.split('\n').map((line) => `  ${line}`).join('\n');
}

function indent(text: string): string {
  return text.split('\n').join('\n  ');
}
