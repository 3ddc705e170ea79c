/**
 * The web plugin's JSON API and /metrics against a real server on a free
 * port and a real database, on both stores.
 */
import { expect, it, vi } from 'vitest';
import { ConfigService } from '../../src/config/config-service.ts';
import type { ClaimedJob, JobStore, RecurringSpec } from '../../src/store/job-store.ts';
import { apiRoutes } from '../../plugins/web/api-routes.ts';
import { BulkActions } from '../../plugins/web/bulk-actions.ts';
import { SnapshotPoller } from '../../plugins/web/snapshot-poller.ts';
import { readWebConfig, WEB_KEYS } from '../../plugins/web/web-config.ts';
import { memoryLogger } from '../helpers/logger.ts';
import { describeStores } from '../helpers/store-factories.ts';
import { basic, OPERATOR, testWebServer, TOKEN, VIEWER } from '../helpers/web-server.ts';

const json = { 'Content-Type': 'application/json' };

async function failForGood(store: JobStore, attempts: number): Promise<number> {
  const { id } = await store.addJob({ service: 'svc', method: 'flaky', params: '{"json":{"n":1}}', runAt: Date.now() - 1000, priority: 0, maxAttempts: attempts, timeoutMs: null, createdAt: Date.now() });
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const [job] = await store.claim({ owner: 'w', limit: 1, now: Date.now() + 10_000, isolated: 'skip' }) as [ClaimedJob];
    const at = Date.now();
    await store.complete([{ id: job.id, attempt: job.attempt, database: job.database, owner: 'w', at, outcome: 'failed', error: { name: 'Error', message: `boom ${attempt}`, stack: `Error: boom ${attempt}\n    at flaky` }, retryAt: attempt < attempts ? at : null }]);
  }
  return id;
}

describeStores('web API', (factory) => {
  it('adds a job over HTTP, lists it newest first with filters, shows it, and names bad fields', async () => {
    const store = await factory.open();
    const { url } = await testWebServer(store);
    const add = (body: unknown) => fetch(`${url}/api/jobs`, { method: 'POST', headers: json, body: JSON.stringify(body) });
    const first = await add({ service: 'mail', method: 'send', params: { to: 'ada@example.org' }, tags: ['t1'], key: 'k1', priority: 'high' });
    expect(first.status).toBe(201);
    const { id } = await first.json() as { id: number };
    await add({ service: 'mail', method: 'other', params: { to: 'bob' } });
    const list = await (await fetch(`${url}/api/jobs?target=mail.send`)).json() as { jobs: { id: number; params: unknown; tags: string[] }[]; next: number | null };
    expect(list.jobs.map((j) => j.id)).toEqual([id]);
    expect(list.jobs[0]).toMatchObject({ params: { to: 'ada@example.org' }, tags: ['t1'] });
    expect((await (await fetch(`${url}/api/jobs?q=ADA@`)).json() as { jobs: unknown[] }).jobs).toHaveLength(1);
    expect(await (await fetch(`${url}/api/jobs/count?target=mail`)).json()).toMatchObject({ count: 2, capped: false });
    const shown = await (await fetch(`${url}/api/jobs/${id}`)).json() as { job: { key: string; priority: number } };
    expect(shown.job).toMatchObject({ key: 'k1', priority: 10 });

    const bad = async (body: unknown, field: string) => {
      const response = await add(body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { field: string } }).error.field).toBe(field);
    };
    await bad({ method: 'x' }, 'service');
    await bad({ service: 's', method: 'x', tags: 'nope' }, 'tags');
    await bad({ service: 's', method: 'x', runAt: '2026-12-01T08:00:00' }, 'runAt');
    await bad({ service: 's', method: 'x', params: { big: 1n.toString() }, prio: 1 }, 'prio');
    const badState = await fetch(`${url}/api/jobs?state=done`);
    expect(badState.status).toBe(400);
    expect(await badState.json()).toMatchObject({ error: { field: 'state' } });
    expect((await fetch(`${url}/api/jobs/999999`)).status).toBe(404);
  });

  it('pages by keyset', async () => {
    const store = await factory.open();
    const { url } = await testWebServer(store);
    const { ids } = await store.addJobs(Array.from({ length: 25 }, () => ({ service: 's', method: 'm', params: '{"json":1}', runAt: Date.now(), priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now() })));
    const seen: number[] = [];
    let before = '';
    for (let page = 0; page < 3; page++) {
      const body = await (await fetch(`${url}/api/jobs?limit=10${before}`)).json() as { jobs: { id: number }[]; next: number | null };
      seen.push(...body.jobs.map((j) => j.id));
      before = body.next === null ? '' : `&before=${body.next}`;
    }
    expect(seen).toEqual([...ids].reverse());
  });

  it('shows every attempt, retries, and runs a bulk action on all matching with progress', async () => {
    const store = await factory.open();
    const { url, logLines } = await testWebServer(store);
    const id = await failForGood(store, 2);
    const detail = await (await fetch(`${url}/api/jobs/${id}`)).json() as { errors: { attempt: number; message: string; stack: string }[] };
    expect(detail.errors.map((e) => [e.attempt, e.message])).toEqual([[1, 'boom 1'], [2, 'boom 2']]);
    expect(detail.errors[1]?.stack).toContain('at flaky');
    expect((await fetch(`${url}/api/jobs/${id}/retry`, { method: 'POST' })).status).toBe(200);
    expect((await store.getJob(id))?.state).toBe('waiting');
    const again = await fetch(`${url}/api/jobs/${id}/retry`, { method: 'POST' });
    expect(again.status).toBe(400);
    expect(logLines().some((line) => (line.web as { who?: string; action?: string } | undefined)?.action === 'retry')).toBe(true);

    const tagged = await store.addJobs(Array.from({ length: 30 }, () => ({ service: 's', method: 'm', params: '{"json":1}', runAt: Date.now() + 3_600_000, priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now(), tags: ['bulk'] })));
    expect(await (await fetch(`${url}/api/bulk/preview`, { method: 'POST', headers: json, body: JSON.stringify({ filter: { tag: 'bulk' } }) })).json()).toMatchObject({ count: 30 });
    const started = await fetch(`${url}/api/bulk`, { method: 'POST', headers: json, body: JSON.stringify({ action: 'cancel', filter: { tag: 'bulk' } }) });
    expect(started.status).toBe(202);
    const { id: bulkId, expected } = await started.json() as { id: string; expected: number };
    expect(expected).toBe(30);
    await expect.poll(async () => (await (await fetch(`${url}/api/bulk/${bulkId}`)).json() as { state: string }).state).toBe('done');
    expect(await (await fetch(`${url}/api/bulk/${bulkId}`)).json()).toMatchObject({ done: 30, changed: 30 });
    expect(await store.countJobs({ tag: 'bulk', states: ['cancelled'] }, 100)).toBe(30);
    expect(tagged.ids).toHaveLength(30);
  });

  it('refuses strangers (401), viewers\' writes (403) and cross-site writes (403)', async () => {
    const store = await factory.open();
    const { url } = await testWebServer(store, { withUsers: true });
    const id = await failForGood(store, 1);
    expect((await fetch(`${url}/api/jobs`)).status).toBe(401);
    expect((await fetch(`${url}/api/jobs`, { headers: { Authorization: basic({ name: 'vera', password: 'wrong-password' }) } })).status).toBe(401);
    expect((await fetch(`${url}/api/jobs`, { headers: { Authorization: basic(VIEWER) } })).status).toBe(200);
    expect((await fetch(`${url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN.token}` } })).status).toBe(200);
    const viewerRetry = await fetch(`${url}/api/jobs/${id}/retry`, { method: 'POST', headers: { Authorization: basic(VIEWER) } });
    expect(viewerRetry.status).toBe(403);
    const crossSite = await fetch(`${url}/api/jobs/${id}/retry`, { method: 'POST', headers: { Authorization: basic(OPERATOR), 'Sec-Fetch-Site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    const otherOrigin = await fetch(`${url}/api/jobs/${id}/retry`, { method: 'POST', headers: { Authorization: basic(OPERATOR), Origin: 'http://evil.example' } });
    expect(otherOrigin.status).toBe(403);
    expect((await store.getJob(id))?.state).toBe('failed');
    const sameOrigin = await fetch(`${url}/api/jobs/${id}/retry`, { method: 'POST', headers: { Authorization: basic(OPERATOR), Origin: url, 'Sec-Fetch-Site': 'same-origin' } });
    expect(sameOrigin.status).toBe(200);
  });

  it('serves /metrics in Prometheus format from a cached snapshot, counting what finished since it started', async () => {
    const store = await factory.open();
    const { url } = await testWebServer(store, { refreshMs: 60_000 });
    const metrics = async () => {
      const response = await fetch(`${url}/metrics`);
      expect(response.headers.get('content-type')).toContain('text/plain');
      return response.text();
    };
    await store.addJob({ service: 'svc', method: 'run', params: '{"json":1}', runAt: Date.now() - 5000, priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now() - 5000 });
    const count = vi.spyOn(store, 'stats');
    const first = await metrics();
    expect(first).toContain('scheduler_jobs{state="waiting"} 1');
    expect(first).toContain('scheduler_build_info{version="0.1.0-test"} 1');
    expect(first).toMatch(/scheduler_oldest_waiting_age_seconds [1-9]/);
    const reads = count.mock.calls.length;
    await Promise.all(Array.from({ length: 10 }, () => metrics()));
    expect(count.mock.calls.length).toBe(reads); // ten scrapes inside the interval: no new read
    expect(first).not.toMatch(/job_id|id="/);
  });

  it('counts jobs finished and attempts failed after the first read, by service and method', async () => {
    const store = await factory.open();
    const { url } = await testWebServer(store, { refreshMs: 100 });
    await fetch(`${url}/metrics`);
    await failForGood(store, 2);
    // The snapshot is read again once it is older than the interval.
    await expect.poll(async () => (await fetch(`${url}/metrics`)).text()).toContain('scheduler_jobs_finished_total{service="svc",method="flaky",state="failed"} 1');
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain('scheduler_attempt_failures_total{service="svc",method="flaky"} 2');
    expect(text).toContain('scheduler_jobs_added_total 1');
    expect(text).toMatch(/scheduler_job_run_duration_seconds_count\{service="svc",method="flaky"\} 1/);
  });

  it('counts every job that finished between two reads, however many more than its usual window', async () => {
    const store = await factory.open();
    const finished: number[] = [];
    // A window of 100 ids stands for the real 50,000; 300 jobs finish between the reads.
    const poller = new SnapshotPoller(store, 1, (delta) => finished.push(delta.finished.length), 100);
    await poller.fresh();
    const { ids } = await store.addJobs(Array.from({ length: 300 }, (_, i) => ({ service: 'svc', method: 'bulk', params: `{"json":${i}}`, runAt: 0, priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now() })));
    for (let done = 0; done < ids.length;) {
      const claimed = await store.claim({ owner: 'host:1:w', limit: 100, now: Date.now(), isolated: 'skip' });
      await store.complete(claimed.map((job) => ({ id: job.id, attempt: job.attempt, database: job.database, owner: 'host:1:w', outcome: 'succeeded', result: null, at: Date.now() })));
      done += claimed.length;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
    await poller.fresh();
    expect(finished).toEqual([300]);
    poller.close();
  });

  it('describes every route it serves in an OpenAPI document', async () => {
    const store = await factory.open();
    const { url, worker } = await testWebServer(store);
    const doc = await (await fetch(`${url}/api/openapi.json`)).json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    for (const path of ['/api/jobs', '/api/jobs/{id}', '/api/jobs/{id}/retry', '/api/bulk', '/api/recurring', '/api/events', '/metrics']) expect(doc.paths).toHaveProperty([path]);
    // Every route the API registers, with its method: a route added without its entry fails here.
    const { logger } = memoryLogger('info');
    const routes = apiRoutes({ store, worker, poller: new SnapshotPoller(store, 1000), bulk: new BulkActions(store, logger, { batch: 1, max: 1 }), logger, paramsFilter: () => undefined }).routes;
    const undocumented = routes.map((r) => `${r.method.toLowerCase()} /api${r.path.replace(/:(\w+)/g, '{$1}')}`).filter((route) => {
      const [method, path] = route.split(' ') as [string, string];
      return doc.paths[path]?.[method] === undefined;
    });
    expect(undocumented).toEqual([]);
    expect(routes.some((r) => r.path === '/paused/:target' && r.method === 'DELETE')).toBe(true);
  });

  it('shows a job\'s parents and dependants with their states, and why it waits or was cancelled', async () => {
    const store = await factory.open();
    const { url } = await testWebServer(store);
    const detail = async (id: number) => await (await fetch(`${url}/api/jobs/${id}`)).json() as {
      job: { state: string }; parents: { id: number; state: string; target: string | null }[]; parentsTotal: number;
      dependants: { id: number; state: string }[]; dependantsTotal: number; why: { kind: string; text: string }[];
    };
    const parent = await store.addJob({ service: 'svc', method: 'first', params: '{"json":1}', runAt: Date.now() - 1000, priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now() });
    const child = await store.addJob({ service: 'svc', method: 'second', params: '{"json":1}', runAt: Date.now(), priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now(), after: [{ id: parent.id }] });
    const grandchild = await store.addJob({ service: 'svc', method: 'third', params: '{"json":1}', runAt: Date.now(), priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now(), after: [{ id: child.id }] });
    const waiting = await detail(child.id);
    expect(waiting.parents).toEqual([{ id: parent.id, state: 'waiting', target: 'svc.first' }]);
    expect(waiting.dependants).toEqual([{ id: grandchild.id, state: 'waiting', target: 'svc.third' }]);
    expect([waiting.parentsTotal, waiting.dependantsTotal]).toEqual([1, 1]);
    expect(waiting.why).toEqual([{ kind: 'parents', waitingFor: 1, text: 'waiting for 1 parent' }]);
    expect((await detail(parent.id)).why).toEqual([]);

    // The parent fails: the child and the grandchild end cancelled, each naming the job whose end cancelled it.
    const [claimed] = await store.claim({ owner: 'w', limit: 5, now: Date.now(), isolated: 'skip' }) as [ClaimedJob];
    expect(claimed.id).toBe(parent.id);
    await store.complete([{ id: claimed.id, attempt: claimed.attempt, database: claimed.database, owner: 'w', at: Date.now(), outcome: 'failed', error: { name: 'Error', message: 'no' }, retryAt: null }]);
    const cancelled = await detail(child.id);
    expect(cancelled.job.state).toBe('cancelled');
    expect(cancelled.parents).toEqual([{ id: parent.id, state: 'failed', target: 'svc.first' }]);
    expect(cancelled.why).toEqual([{ kind: 'parent-ended', parent: parent.id, parentState: 'failed', text: `cancelled because parent #${parent.id} failed` }]);
    expect((await detail(grandchild.id)).why).toMatchObject([{ text: `cancelled because parent #${child.id} cancelled` }]);
  });

  it('lists the concurrency keys holding jobs back, and says on the job that its key is full', async () => {
    const store = await factory.open();
    const { url } = await testWebServer(store);
    const key = 'zone <b>"1"</b>';
    const { ids: [first, second] } = await store.addJobs([0, 1].map(() => ({ service: 'svc', method: 'keyed', params: '{"json":1}', runAt: Date.now() - 1000, priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now(), concurrency: { key, limit: 1 } })));
    // The second is parked at its add, behind the first (due, and taken first).
    expect(await (await fetch(`${url}/api/concurrency-keys`)).json()).toEqual({ keys: [{ key, running: 0, parked: 1, limit: 1 }], truncated: false });
    expect((await store.claim({ owner: 'w', limit: 5, now: Date.now(), isolated: 'skip' })).map((j) => j.id)).toEqual([first]);
    expect(await (await fetch(`${url}/api/concurrency-keys`)).json()).toEqual({ keys: [{ key, running: 1, parked: 1, limit: 1 }], truncated: false });
    const parked = await (await fetch(`${url}/api/jobs/${second}`)).json() as { job: { parked: boolean }; why: unknown[] };
    expect(parked.job.parked).toBe(true);
    expect(parked.why).toEqual([{ kind: 'concurrency', key, limit: 1, text: `its concurrency key "${key}" is full (limit 1)` }]);
  });

  it('lists the rate limits with their starts in the last window and when a full one has room again', async () => {
    const store = await factory.open();
    const { url, worker } = await testWebServer(store);
    const rateLimits = async () => (await (await fetch(`${url}/api/rate-limits`)).json()) as { rateLimits: unknown[] };
    expect(await rateLimits()).toEqual({ rateLimits: [] });
    await worker.setRateLimit('mail', { limit: 2, perSeconds: 1.5 });
    await worker.setRateLimit('api', { limit: 1, perSeconds: 60 });
    const { ids: [first] } = await store.addJobs([0, 1].map(() => ({ service: 'svc', method: 'limited', params: '{"json":1}', runAt: Date.now() - 1000, priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now(), rateLimit: 'api' })));
    expect((await store.claim({ owner: 'w', limit: 5, now: Date.now(), isolated: 'skip' })).map((j) => j.id)).toEqual([first]);
    // The start's instant is the job's startedAt (the server's clock on PostgreSQL).
    const startedAt = (await store.getJob(first!))!.startedAt!;
    expect(await rateLimits()).toEqual({ rateLimits: [
      { name: 'api', limit: 1, perSeconds: 60, recentStarts: 1, freeAt: new Date(startedAt + 60_000).toISOString() },
      { name: 'mail', limit: 2, perSeconds: 1.5, recentStarts: 0, freeAt: null },
    ] });
  });

  it('pauses and resumes a target (a method or a whole service), names a bad target, and logs who did it', async () => {
    const store = await factory.open();
    const { url, logLines } = await testWebServer(store);
    const pause = (body: unknown) => fetch(`${url}/api/paused`, { method: 'POST', headers: json, body: JSON.stringify(body) });
    const paused = await pause({ target: 'mail.send' });
    expect(paused.status).toBe(201);
    expect(await paused.json()).toMatchObject({ target: 'mail.send', service: 'mail', method: 'send', at: expect.stringMatching(/^\d{4}-/) });
    expect((await pause({ target: 'mail.send' })).status).toBe(409);
    expect(await (await fetch(`${url}/api/paused`)).json()).toEqual({ paused: [{ target: 'mail.send', service: 'mail', method: 'send', at: expect.any(String) }] });
    expect(await store.listPaused()).toEqual([{ service: 'mail', method: 'send', at: expect.any(Number) }]);

    // A job added while paused waits, and says why; no claim takes it.
    const { id } = await store.addJob({ service: 'mail', method: 'send', params: '{"json":1}', runAt: Date.now() - 1000, priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now() });
    expect((await (await fetch(`${url}/api/jobs/${id}`)).json() as { why: unknown[] }).why).toEqual([{ kind: 'paused', target: 'mail.send', text: 'its target mail.send is paused' }]);
    expect(await store.claim({ owner: 'w', limit: 5, now: Date.now(), isolated: 'skip' })).toEqual([]);
    expect((await (await fetch(`${url}/api/jobs/${id}`)).json() as { job: { held: boolean } }).job.held).toBe(true);

    const bad = async (body: unknown, field: string, message: RegExp) => {
      const response = await pause(body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { field: string; message: string } }).error).toMatchObject({ field, message: expect.stringMatching(message) });
    };
    await bad({}, 'target', /target: expected "service\.method"/);
    await bad({ target: 5 }, 'target', /target:/);
    await bad({ target: '.send' }, 'target', /target: .*service\.method/);
    await bad({ target: 'mail.send', why: 'x' }, 'why', /why: unknown field/);
    await bad({ target: 'x'.repeat(201) }, 'target', /at most 200/);

    const resumed = await fetch(`${url}/api/paused/mail.send`, { method: 'DELETE' });
    expect(resumed.status).toBe(200);
    expect((await fetch(`${url}/api/paused/mail.send`, { method: 'DELETE' })).status).toBe(404);
    expect((await store.claim({ owner: 'w', limit: 5, now: Date.now(), isolated: 'skip' })).map((j) => j.id)).toEqual([id]);

    // A whole service, with a name that needs encoding in the path.
    const odd = 'my svc/<x>';
    expect((await pause({ target: odd })).status).toBe(201);
    expect(await store.listPaused()).toEqual([{ service: odd, method: null, at: expect.any(Number) }]);
    expect((await fetch(`${url}/api/paused/${encodeURIComponent(odd)}`, { method: 'DELETE' })).status).toBe(200);
    expect(await store.listPaused()).toEqual([]);
    const actions = logLines().map((line) => line.web as { who?: string; action?: string; target?: string } | undefined).filter((w) => w?.target !== undefined);
    expect(actions).toEqual([
      expect.objectContaining({ who: 'local', action: 'paused', target: 'mail.send' }),
      expect.objectContaining({ who: 'local', action: 'resumed', target: 'mail.send' }),
      expect.objectContaining({ who: 'local', action: 'paused', target: odd }),
      expect.objectContaining({ who: 'local', action: 'resumed', target: odd }),
    ]);
  });

  it('pauses and resumes a recurring job by id: operators only, from this site only; paused it shows pausedAt, no next fires, and is not due', async () => {
    const store = await factory.open();
    const { url, logLines } = await testWebServer(store, { withUsers: true });
    type View = { id: number; signature: string; pausedAt: string | null; nextRunAt: string; nextFires: string[]; lagSeconds: number };
    const as = (user: { name: string; password: string }, extra: Record<string, string> = {}) => ({ Authorization: basic(user), ...extra });
    // Every minute, five minutes behind: resuming must skip what fell due, not fire it.
    const start = Date.now() - 10 * 60_000;
    const spec: RecurringSpec = {
      service: 'report', method: 'daily', name: '', params: '{"json":null}', everyMs: 60_000, cron: null, tz: null, misfire: 'all',
      priority: 0, maxAttempts: 1, timeoutMs: null, anchor: start, nextRunAt: start + 5 * 60_000, createdAt: start,
    };
    const { id } = await store.upsertRecurring(spec);
    const post = (idText: number | string, action: 'pause' | 'resume', user: { name: string; password: string } = OPERATOR, extra: Record<string, string> = {}) =>
      fetch(`${url}/api/recurring/${idText}/${action}`, { method: 'POST', headers: as(user, extra) });
    const stored = async () => (await store.listRecurring()).find((r) => r.id === id);
    const farFuture = Date.now() + 365 * 86_400_000;
    const list = async () => await (await fetch(`${url}/api/recurring`, { headers: as(VIEWER) })).json() as { recurring: View[] };
    expect((await list()).recurring).toEqual([expect.objectContaining({ id, pausedAt: null, nextFires: expect.arrayContaining([expect.any(String)]) })]);
    expect(await list()).not.toHaveProperty('pauseSupported');

    // Refused: a viewer, a cross-site request, another origin. Nothing changes.
    for (const action of ['pause', 'resume'] as const) {
      expect((await post(id, action, VIEWER)).status).toBe(403);
      expect((await post(id, action, OPERATOR, { 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
      expect((await post(id, action, OPERATOR, { Origin: 'http://evil.example' })).status).toBe(403);
    }
    expect((await stored())?.pausedAt).toBeNull();

    const beforePause = Date.now();
    const paused = await post(id, 'pause', OPERATOR, { Origin: url, 'Sec-Fetch-Site': 'same-origin' });
    expect(paused.status).toBe(200);
    const pausedView = await paused.json() as View;
    expect(pausedView).toMatchObject({ id, signature: 'report.daily', pausedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/), nextFires: [], lagSeconds: 0 });
    const pausedRecord = await stored();
    expect(pausedRecord?.pausedAt).toBeGreaterThanOrEqual(beforePause);
    expect(Date.parse(pausedView.pausedAt!)).toBe(pausedRecord?.pausedAt);
    expect((await store.dueRecurring(farFuture)).map((r) => r.id)).not.toContain(id);
    // The list shows it as the action answered; pausing again keeps the first pausedAt.
    expect(await list()).toEqual({ recurring: [pausedView] });
    const again = await post(id, 'pause');
    expect(again.status).toBe(200);
    expect((await again.json() as View).pausedAt).toBe(pausedView.pausedAt);

    const beforeResume = Date.now();
    const resumed = await post(id, 'resume');
    expect(resumed.status).toBe(200);
    const resumedView = await resumed.json() as View;
    expect(resumedView).toMatchObject({ id, pausedAt: null });
    expect(Date.parse(resumedView.nextRunAt)).toBeGreaterThan(beforeResume);
    expect(resumedView.nextFires).toHaveLength(5);
    expect(resumedView.nextFires[0]).toBe(resumedView.nextRunAt);
    const resumedRecord = await stored();
    expect(resumedRecord?.pausedAt).toBeNull();
    expect(resumedRecord?.nextRunAt).toBeGreaterThan(beforeResume);
    expect(((resumedRecord?.nextRunAt ?? 0) - start) % 60_000).toBe(0); // on the schedule's own minutes
    expect((await store.dueRecurring(farFuture)).map((r) => r.id)).toContain(id);
    expect(await store.listJobs()).toEqual([]); // the minutes that fell while paused were skipped, not added

    // Unknown and bad ids.
    for (const action of ['pause', 'resume'] as const) {
      const unknown = await post(999_999, action);
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ error: { code: 'ERR_RECURRING_NOT_FOUND' } });
      const bad = await post('x', action);
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ error: { field: 'id' } });
    }
    const actions = logLines().map((line) => line.web as { who?: string; action?: string; recurring?: number } | undefined).filter((w) => w?.recurring !== undefined);
    expect(actions).toEqual([
      expect.objectContaining({ who: 'otto', role: 'operator', action: 'paused recurring', recurring: id }),
      expect.objectContaining({ who: 'otto', action: 'paused recurring', recurring: id }),
      expect.objectContaining({ who: 'otto', action: 'resumed recurring', recurring: id }),
    ]);
  });

  it('lets only operators pause and resume, from this site only; viewers may read what is paused', async () => {
    const store = await factory.open();
    const { url } = await testWebServer(store, { withUsers: true });
    const as = (user: { name: string; password: string }, extra: Record<string, string> = {}) => ({ ...json, Authorization: basic(user), ...extra });
    const body = JSON.stringify({ target: 'mail.send' });
    expect((await fetch(`${url}/api/paused`, { method: 'POST', headers: as(VIEWER), body })).status).toBe(403);
    expect((await fetch(`${url}/api/paused`, { method: 'POST', headers: as(OPERATOR, { 'Sec-Fetch-Site': 'cross-site' }), body })).status).toBe(403);
    expect(await store.listPaused()).toEqual([]);
    expect((await fetch(`${url}/api/paused`, { method: 'POST', headers: as(OPERATOR), body })).status).toBe(201);
    expect((await fetch(`${url}/api/paused`, { headers: as(VIEWER) })).status).toBe(200);
    expect((await fetch(`${url}/api/concurrency-keys`, { headers: as(VIEWER) })).status).toBe(200);
    expect((await fetch(`${url}/api/rate-limits`, { headers: as(VIEWER) })).status).toBe(200);
    expect((await fetch(`${url}/api/paused/mail.send`, { method: 'DELETE', headers: as(VIEWER) })).status).toBe(403);
    expect(await store.listPaused()).toHaveLength(1);
    expect((await fetch(`${url}/api/paused/mail.send`, { method: 'DELETE', headers: as(OPERATOR, { Origin: url }) })).status).toBe(200);
  });
});

it('refuses to serve beyond loopback without credentials, saying what to set', () => {
  const config = new ConfigService({ overrides: { 'web.host': '0.0.0.0' } });
  config.install('worker.concurrency', 10, 'x');
  for (const { key, default: value, description } of WEB_KEYS) config.install(key, value as never, description);
  expect(() => readWebConfig(config)).toThrow(/web\.host is 0\.0\.0\.0.*set web\.users.*web\.tokens/);
  const open = new ConfigService({ overrides: { 'web.host': '0.0.0.0', 'web.port': '0' } });
  open.install('worker.concurrency', 10, 'x');
  for (const { key, default: value, description } of WEB_KEYS) open.install(key, value as never, description);
  expect(readWebConfig(open).port).toBe(0);
});
