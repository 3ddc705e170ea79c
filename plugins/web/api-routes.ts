import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { attemptErrorToJson, jobToJson, noteToJson, type JobJson } from '../../src/cli/format.ts';
import { InvalidArgumentError, JobNotFoundError, SerializationError, type Logger, type WorkerService } from '../../src/index.ts';
import type { JobSearch, JobStore, RateLimitUse, RecurringRecord } from '../../src/store/job-store.ts';
import { resumeAt } from '../../src/worker/fire-recurring.ts';
import { parseTarget } from '../../src/worker/worker-service.ts';
import type { WebEnv } from './access.ts';
import { applyAction, JOB_ACTIONS, type BulkActions, type JobAction } from './bulk-actions.ts';
import { jobFlow, targetText } from './flow-view.ts';
import { badField, HttpError } from './http-error.ts';
import { positiveInteger, searchFromQuery } from './job-query.ts';
import { openApiDocument } from './openapi.ts';
import { recurringView, type RecurringView } from './recurring-view.ts';
import type { SnapshotPoller } from './snapshot-poller.ts';

/** Hides what an app does not want shown of a job's params (see the web service's `hideParams`). */
export type ParamsFilter = (job: { readonly service: string; readonly method: string; readonly params: unknown }) => unknown;

/** What the API routes work with. */
export interface ApiContext {
  readonly store: JobStore;
  readonly worker: WorkerService;
  readonly poller: SnapshotPoller;
  readonly bulk: BulkActions;
  readonly logger: Logger;
  /** The current params filter, if an app set one. */
  readonly paramsFilter: () => ParamsFilter | undefined;
}

/** The Limits page lists at most this many concurrency keys (those holding back the most jobs first). */
export const CONCURRENCY_KEYS_SHOWN = 200;

/** The jobs list shows "10,000+" past this: a count that stops here costs what this many rows cost. */
export const LIST_COUNT_CAP = 10_000;
/** One jobs-list request reads at most this many ids per look, and looks again while time is left. */
const SCAN_IDS = 100_000;
const LIST_TIME_BUDGET_MS = 150;

/** The JSON API under /api/: every page's query and action (see openapi.ts for the document). */
export function apiRoutes(ctx: ApiContext): Hono<WebEnv> {
  const api = new Hono<WebEnv>();
  const { store } = ctx;
  const counts = new Map<string, { at: number; count: number }>();

  const shown = (json: JobJson): JobJson => {
    const filter = ctx.paramsFilter();
    if (filter === undefined) return json;
    const params = filter({ service: json.service, method: json.method, params: json.params });
    // The stored form would show what the filter hid: it goes too.
    return { ...json, params, paramsSuperjson: { json: params } };
  };

  const audit = (who: { name: string; role: string }, action: string, detail: Record<string, unknown>): void => {
    ctx.logger.info({ web: { who: who.name, role: who.role, action, ...detail } }, `web: ${who.name} ${action}`);
  };

  api.get('/openapi.json', (c) => c.json(openApiDocument()));

  api.get('/overview', async (c) => c.json(await ctx.poller.fresh()));

  api.get('/jobs', async (c) => {
    const search = searchFromQuery(c.req.query());
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? 50 : Math.min(500, positiveInteger(limitText, 'limit'));
    const beforeText = c.req.query('before');
    let before = beforeText === undefined || beforeText === '' ? undefined : positiveInteger(beforeText, 'before');
    // An unfiltered page is a plain keyset read; a filtered one looks a window of ids at a time until the
    // page is full or the time budget is spent, and says where it stopped (`next`), so no request reads the whole table.
    const filtered = Object.keys(search).length > 0;
    const started = performance.now();
    const jobs: JobJson[] = [];
    let next: number | null = null;
    for (;;) {
      const page = await store.searchJobs(search, { limit: limit - jobs.length, ...(before === undefined ? {} : { beforeId: before }), ...(filtered ? { scanIds: SCAN_IDS } : {}) });
      jobs.push(...page.jobs.map((job) => shown(jobToJson(job))));
      next = page.next;
      if (next === null || jobs.length >= limit || performance.now() - started > LIST_TIME_BUDGET_MS) break;
      before = next;
    }
    return c.json({ jobs, next, partial: jobs.length < limit && next !== null });
  });

  api.get('/jobs/count', async (c) => {
    const search = searchFromQuery(c.req.query());
    // One count per filter per refresh interval, however many tabs ask.
    const key = JSON.stringify(search);
    const cached = counts.get(key);
    if (cached !== undefined && Date.now() - cached.at < 5000) return c.json(countJson(cached.count));
    const count = await store.countJobs(search, LIST_COUNT_CAP);
    if (counts.size > 200) counts.clear();
    counts.set(key, { at: Date.now(), count });
    return c.json(countJson(count));
  });

  api.get('/jobs/:id', async (c) => {
    const id = positiveInteger(c.req.param('id'), 'id');
    const job = await store.getJob(id);
    if (job === undefined) throw new JobNotFoundError(id);
    const [errors, notes] = await Promise.all([store.getJobErrors(id), store.getJobNotes(id)]);
    const recurring = job.recurringId === null ? null : (await store.listRecurring()).find((r) => r.id === job.recurringId) ?? null;
    const flow = await jobFlow(store, job);
    return c.json({
      job: shown(jobToJson(job)),
      errors: errors.map(attemptErrorToJson),
      notes: notes.map((n) => ({ id: n.id, ...noteToJson(n) })),
      recurring: recurring === null ? null : { id: recurring.id, signature: `${recurring.service}.${recurring.method}${recurring.name === '' ? '' : `#${recurring.name}`}` },
      ...flow,
    });
  });

  api.get('/paused', async (c) => c.json({ paused: (await store.listPaused()).map(pausedToJson) }));

  api.post('/paused', async (c) => {
    const body = await jsonBody(c.req.raw);
    for (const name of Object.keys(body)) if (name !== 'target') throw badField(name, 'unknown field; the body is { "target": "service.method" or "service" }');
    const target = targetFromText(body.target);
    if (!(await ctx.worker.pause(target))) throw new HttpError(409, 'ERR_NOT_APPLICABLE', `${target} is paused already`);
    audit(c.get('who'), 'paused', { target });
    const entry = (await store.listPaused()).find((p) => targetText(p) === target);
    return c.json(entry === undefined ? { target } : pausedToJson(entry), 201);
  });

  api.delete('/paused/:target', async (c) => {
    const target = targetFromText(c.req.param('target'));
    if (!(await ctx.worker.resume(target))) throw new HttpError(404, 'ERR_NOT_FOUND', `${target} is not paused (a method paused with its whole service is resumed by resuming the service)`);
    audit(c.get('who'), 'resumed', { target });
    return c.json({ target, resumed: true });
  });

  api.get('/concurrency-keys', async (c) => {
    // One more than shown tells whether there are more.
    const keys = await store.concurrencyKeys(CONCURRENCY_KEYS_SHOWN + 1);
    return c.json({ keys: keys.slice(0, CONCURRENCY_KEYS_SHOWN), truncated: keys.length > CONCURRENCY_KEYS_SHOWN });
  });

  api.get('/rate-limits', async (c) => c.json({ rateLimits: (await store.rateLimitUse(Date.now())).map(rateLimitToJson) }));

  api.post('/jobs', async (c) => {
    const body = await jsonBody(c.req.raw);
    const added = await addJobFromBody(ctx.worker, body);
    audit(c.get('who'), 'added', added);
    return c.json(added, 201);
  });

  for (const action of JOB_ACTIONS) {
    const method = action === 'delete' ? api.delete.bind(api) : api.post.bind(api);
    const path = action === 'delete' ? '/jobs/:id' : `/jobs/:id/${action}`;
    method(path, async (c) => {
      const id = positiveInteger(c.req.param('id') ?? '', 'id');
      if (action === 'retry') await ctx.worker.retry(id); // explains why a job cannot be retried
      const changed = action === 'retry' ? true : await applyAction(store, action, id);
      audit(c.get('who'), action, { job: id, changed });
      if (!changed) throw new HttpError(409, 'ERR_NOT_APPLICABLE', notApplicable(action, id));
      return c.json({ id, action, changed });
    });
  }

  api.post('/bulk/preview', async (c) => {
    const body = await jsonBody(c.req.raw);
    const search = bulkSearch(body);
    return c.json(countJson(await store.countJobs(search, LIST_COUNT_CAP)));
  });

  api.post('/bulk', async (c) => {
    const body = await jsonBody(c.req.raw);
    const action = body.action;
    if (typeof action !== 'string' || !(JOB_ACTIONS as readonly string[]).includes(action)) throw badField('action', `expected one of ${JOB_ACTIONS.join(', ')}`);
    const who = c.get('who');
    if (body.ids !== undefined) {
      if (!Array.isArray(body.ids) || body.ids.length === 0) throw badField('ids', 'expected a non-empty list of job ids');
      const ids = body.ids.map((id: unknown, i: number) => {
        if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) throw badField(`ids[${i}]`, 'expected a positive whole number');
        return id;
      });
      return c.json(ctx.bulk.start(action as JobAction, { ids }, who), 202);
    }
    const search = bulkSearch(body);
    const expected = await store.countJobs(search, 10_000_000);
    return c.json(ctx.bulk.start(action as JobAction, { search, expected }, who), 202);
  });

  api.get('/bulk/:id', (c) => {
    const progress = ctx.bulk.get(c.req.param('id'));
    if (progress === undefined) throw new HttpError(404, 'ERR_NOT_FOUND', `no bulk action ${c.req.param('id')}`);
    return c.json(progress);
  });

  /** A recurring job as GET /recurring lists it, with its newest occurrence. */
  const viewOf = async (record: RecurringRecord, now: number): Promise<RecurringView> => {
    const { jobs: [last] } = await store.searchJobs({ recurringId: record.id }, { limit: 1, scanIds: 100_000 });
    return recurringView(record, last, now);
  };
  /** The recurring job with this id, read afresh. @throws HttpError 404. */
  const recurringById = async (id: number): Promise<RecurringRecord> => {
    const record = (await store.listRecurring()).find((r) => r.id === id);
    if (record === undefined) throw new HttpError(404, 'ERR_RECURRING_NOT_FOUND', `no recurring job ${id}`);
    return record;
  };

  api.get('/recurring', async (c) => {
    const now = Date.now();
    const records = await store.listRecurring();
    return c.json({ recurring: await Promise.all(records.map((record) => viewOf(record, now))) });
  });

  api.post('/recurring/:id/run-now', async (c) => {
    const id = positiveInteger(c.req.param('id'), 'id');
    const record = await recurringById(id);
    // A one-off copy, due now: the schedule and its next run stay as they are.
    const { id: jobId } = await store.addJob({
      service: record.service, method: record.method, params: record.params, runAt: Date.now(), priority: record.priority,
      maxAttempts: record.maxAttempts, timeoutMs: record.timeoutMs, createdAt: Date.now(), tags: ['run-now'],
    });
    audit(c.get('who'), 'ran recurring now', { recurring: id, job: jobId });
    return c.json({ recurring: id, job: jobId }, 201);
  });

  api.delete('/recurring/:id', async (c) => {
    const id = positiveInteger(c.req.param('id'), 'id');
    const record = await recurringById(id);
    await store.removeRecurring(record.service, record.method, record.name);
    audit(c.get('who'), 'removed recurring', { recurring: id });
    return c.json({ removed: id });
  });

  // Pause and resume: a paused recurring job adds no occurrence (those already added stay) until it is
  // resumed, at its first fire time after the resume: every occurrence due before it is skipped. Pausing a paused
  // one keeps its first pausedAt; resuming a running one changes nothing. Both answer with its view.
  api.post('/recurring/:id/pause', async (c) => {
    const id = positiveInteger(c.req.param('id'), 'id');
    const now = Date.now();
    if (!(await store.pauseRecurring(id, now))) throw new HttpError(404, 'ERR_RECURRING_NOT_FOUND', `no recurring job ${id}`);
    audit(c.get('who'), 'paused recurring', { recurring: id });
    return c.json(await viewOf(await recurringById(id), now));
  });

  api.post('/recurring/:id/resume', async (c) => {
    const id = positiveInteger(c.req.param('id'), 'id');
    const now = Date.now();
    const record = await recurringById(id);
    if (!(await store.resumeRecurring(id, resumeAt(record, now)))) throw new HttpError(404, 'ERR_RECURRING_NOT_FOUND', `no recurring job ${id}`);
    audit(c.get('who'), 'resumed recurring', { recurring: id });
    return c.json(await viewOf(await recurringById(id), now));
  });

  // Live updates: the shared poller's snapshots (and, with ?job=ID, that job and its new notes). A page closes
  // its EventSource while hidden, so a background tab costs nothing.
  api.get('/events', (c) => {
    const jobText = c.req.query('job');
    const jobId = jobText === undefined ? undefined : positiveInteger(jobText, 'job');
    return streamSSE(c, async (stream) => {
      const unsubscribe = jobId === undefined
        ? ctx.poller.subscribe((snapshot) => void stream.writeSSE({ event: 'snapshot', data: JSON.stringify(snapshot) }))
        : ctx.poller.watchJob(jobId, ({ job, notes }) => void stream.writeSSE({
            event: 'job',
            data: JSON.stringify({ job: job === null ? null : shown(jobToJson(job)), notes: notes.map((n) => ({ id: n.id, ...noteToJson(n) })) }),
          }));
      await new Promise<void>((resolve) => stream.onAbort(resolve));
      unsubscribe();
    });
  });

  return api;
}

function countJson(count: number): { count: number; capped: boolean; text: string } {
  const capped = count >= LIST_COUNT_CAP;
  return { count, capped, text: capped ? `${LIST_COUNT_CAP.toLocaleString('en')}+` : count.toLocaleString('en') };
}

function notApplicable(action: JobAction, id: number): string {
  switch (action) {
    case 'cancel': return `job ${id} has finished: there is nothing to cancel`;
    case 'run-now': return `job ${id} is not waiting: only a waiting job can be run now`;
    case 'delete': return `job ${id} is waiting or running (cancel it first), or it is the newest job, which SQLite keeps so its id is never handed out again`;
    case 'retry': return `job ${id} cannot be retried`;
  }
}

/** A request body that must be a JSON object. @throws HttpError 415/400. */
async function jsonBody(request: Request): Promise<Record<string, unknown>> {
  if (!(request.headers.get('content-type') ?? '').includes('application/json')) throw new HttpError(415, 'ERR_CONTENT_TYPE', 'send the body as JSON (Content-Type: application/json)');
  const text = await request.text();
  if (text.length > 2_000_000) throw new HttpError(413, 'ERR_TOO_LARGE', 'the body is larger than 2 MB');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badField('body', `not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badField('body', 'expected a JSON object');
  return value as Record<string, unknown>;
}

/** A rate limit and its use as the API shows it: the window in seconds (as worker.setRateLimit takes it), freeAt in ISO 8601. */
function rateLimitToJson(r: RateLimitUse): { name: string; limit: number; perSeconds: number; recentStarts: number; freeAt: string | null } {
  return { name: r.name, limit: r.limit, perSeconds: r.perMs / 1000, recentStarts: r.recentStarts, freeAt: r.freeAt === null ? null : new Date(r.freeAt).toISOString() };
}

/** A paused target as the API shows it. */
function pausedToJson(p: { service: string; method: string | null; at: number }): { target: string; service: string; method: string | null; at: string } {
  return { target: targetText(p), service: p.service, method: p.method, at: new Date(p.at).toISOString() };
}

/** A pause target (`service.method` or `service`) from a body field or the path. @throws HttpError naming `target`. */
function targetFromText(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw badField('target', 'expected "service.method" or "service" (a whole service)');
  if (value.length > 200) throw badField('target', 'at most 200 characters');
  try {
    parseTarget(value);
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw badField('target', error.message);
    throw error;
  }
  return value;
}

/** The `filter` of a bulk body: the jobs list's query parameters as an object. */
function bulkSearch(body: Record<string, unknown>): JobSearch {
  const filter = body.filter;
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) throw badField('filter', 'expected an object of the jobs list\'s filters (state, target, tag, key, q, from, to), or give ids');
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(filter)) {
    if (typeof value !== 'string') throw badField(`filter.${name}`, 'expected a string');
    query[name] = value;
  }
  return searchFromQuery(query);
}

const ADD_FIELDS = ['service', 'method', 'params', 'runAt', 'maxAttempts', 'timeout', 'priority', 'key', 'tags', 'every', 'cron', 'tz', 'name'];

/** `POST /api/jobs`: the same choices as `jobs add` (a one-off, scheduled or recurring job). */
async function addJobFromBody(worker: WorkerService, body: Record<string, unknown>): Promise<{ id: number; recurring?: boolean }> {
  for (const field of Object.keys(body)) if (!ADD_FIELDS.includes(field)) throw badField(field, `unknown field; expected only ${ADD_FIELDS.join(', ')}`);
  const { service, method, params, runAt, maxAttempts, timeout, priority, key, tags, every, cron, tz, name } = body;
  if (typeof service !== 'string' || service === '') throw badField('service', 'required: the service name, e.g. "mailer"');
  if (typeof method !== 'string' || method === '') throw badField('method', 'required: the method name, e.g. "send"');
  const optional = <T>(value: unknown, field: string, check: (v: unknown) => v is T, expected: string): T | undefined => {
    if (value === undefined) return undefined;
    if (!check(value)) throw badField(field, `expected ${expected}`);
    return value;
  };
  const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  const isString = (v: unknown): v is string => typeof v === 'string';
  const options = {
    ...(maxAttempts === undefined ? {} : { maxAttempts: optional(maxAttempts, 'maxAttempts', isNumber, 'a whole number of attempts')! }),
    ...(timeout === undefined ? {} : { timeout: optional(timeout, 'timeout', isNumber, 'a number of seconds')! }),
    ...(priority === undefined ? {} : { priority: optional(priority, 'priority', (v): v is 'high' | 'normal' | 'low' | number => isNumber(v) || v === 'high' || v === 'normal' || v === 'low', '"high", "normal", "low" or a whole number')! }),
  };
  try {
    if (every !== undefined || cron !== undefined) {
      if (every !== undefined && cron !== undefined) throw badField('every', 'every and cron exclude each other: give one');
      if (key !== undefined || tags !== undefined || runAt !== undefined) throw badField(key !== undefined ? 'key' : tags !== undefined ? 'tags' : 'runAt', 'applies to one-off jobs, not to every or cron');
      const schedule = every !== undefined ? optional(every, 'every', isNumber, 'a number of seconds')! : optional(cron, 'cron', isString, 'a cron expression')!;
      const record = await worker.addAsRecurring(service, method, params ?? null, schedule, {
        ...options,
        ...(tz === undefined ? {} : { tz: optional(tz, 'tz', isString, 'an IANA time zone')! }),
        ...(name === undefined ? {} : { name: optional(name, 'name', isString, 'a string')! }),
      });
      return { id: record.id, recurring: true };
    }
    if (tz !== undefined || name !== undefined) throw badField(tz !== undefined ? 'tz' : 'name', 'applies to recurring jobs: give every or cron');
    const oneOff = {
      ...options,
      ...(key === undefined ? {} : { key: optional(key, 'key', isString, 'a string')! }),
      ...(tags === undefined ? {} : { tags: optional(tags, 'tags', (v): v is string[] => Array.isArray(v) && v.every(isString), 'a list of strings')! }),
    };
    if (runAt !== undefined) {
      const at = typeof runAt === 'string' && /(Z|[+-]\d{2}:?\d{2})$/i.test(runAt) ? Date.parse(runAt) : Number.NaN;
      if (!Number.isFinite(at)) throw badField('runAt', 'expected an ISO 8601 instant with a zone, e.g. "2026-12-01T08:00:00Z"');
      return { id: (await worker.addAsScheduled(service, method, params ?? null, new Date(at), oneOff)).id };
    }
    return { id: (await worker.add(service, method, params ?? null, oneOff)).id };
  } catch (error) {
    if (error instanceof SerializationError) throw badField(error.path, error.message);
    if (error instanceof InvalidArgumentError) throw badField(fieldNamed(error.message), error.message);
    throw error;
  }
}

/** The body field an InvalidArgumentError from the worker service is about, as far as its message names one. */
function fieldNamed(message: string): string {
  const named = /`(\w+)`|"(maxAttempts|timeout|priority|key|tags|tz|name)"/.exec(message);
  const field = named?.[1] ?? named?.[2];
  return field !== undefined && ADD_FIELDS.includes(field) ? field : 'body';
}
