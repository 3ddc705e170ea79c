/**
 * The dashboard in a real headless Chromium (Debian's `chromium` package,
 * driven by playwright-core: nothing is downloaded). Skipped, saying so,
 * where no chromium is installed (README: apt-get install -y chromium).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { ClaimedJob, JobStore, NewJob, RecurringSpec } from '../../src/store/job-store.ts';
import { runCliHere } from '../helpers/cli.ts';
import { startMain, workerArgs } from '../helpers/processes.ts';
import { tempStore } from '../helpers/store.ts';
import { OPERATOR, testWebServer, VIEWER } from '../helpers/web-server.ts';

function findChromium(): string | null {
  if (process.env.CHROMIUM_PATH !== undefined) return process.env.CHROMIUM_PATH;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** A job row for the store, due now unless `overrides` say otherwise. */
const newJob = (overrides: Partial<NewJob> = {}): NewJob => ({ service: 'svc', method: 'run', params: '{"json":1}', runAt: Date.now(), priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now(), ...overrides });

const executable = findChromium();
if (executable === null) console.warn('browser tests skipped: no chromium found (apt-get install -y chromium, or set CHROMIUM_PATH)');

describe.skipIf(executable === null)('dashboard in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: executable!, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** A page that records console errors, page errors and dialogs (an alert would mean injected script ran). */
  async function openPage(credentials?: { name: string; password: string }): Promise<{ page: Page; context: BrowserContext; problems: string[] }> {
    const context = await browser.newContext(credentials === undefined ? {} : { httpCredentials: { username: credentials.name, password: credentials.password } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('dialog', (dialog) => {
      if (dialog.type() === 'confirm') void dialog.accept();
      else {
        problems.push(`dialog: ${dialog.message()}`);
        void dialog.dismiss();
      }
    });
    return { page, context, problems };
  }

  async function failedJob(store: JobStore, attempts: number): Promise<number> {
    const { id } = await store.addJob({ service: 'svc', method: 'flaky', params: '{"json":{"n":1}}', runAt: Date.now() - 1000, priority: 0, maxAttempts: attempts, timeoutMs: null, createdAt: Date.now() });
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const [job] = await store.claim({ owner: 'w', limit: 1, now: Date.now() + 10_000, isolated: 'skip' }) as [ClaimedJob];
      const at = Date.now();
      await store.complete([{ id: job.id, attempt: job.attempt, database: job.database, owner: 'w', at, outcome: 'failed', error: { name: 'TypeError', message: `attempt ${attempt} broke`, stack: `TypeError: attempt ${attempt} broke\n    at flaky (plugin.ts:${attempt})` }, retryAt: attempt < attempts ? at : null }]);
    }
    return id;
  }

  it('loads the overview with no console errors', async () => {
    const store = tempStore();
    const { url } = await testWebServer(store);
    await store.addJob({ service: 'svc', method: 'run', params: '{"json":1}', runAt: Date.now(), priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now() });
    const { page, problems } = await openPage();
    await page.goto(url);
    await page.getByText('Finished per minute (last hour)').waitFor();
    await expect.poll(() => page.locator('a.card.state-waiting b').textContent()).toBe('1');
    await page.locator('#live.on').waitFor();
    expect(problems).toEqual([]);
  });

  it('shows a job added through the CLI without a reload', async () => {
    const store = tempStore();
    const { url } = await testWebServer(store);
    const { page, problems } = await openPage();
    await page.goto(`${url}/jobs`);
    await page.locator('#jobs').waitFor();
    await page.locator('#live.on').waitFor();
    const added = await runCliHere(['--set', `worker.dbpath=${store.path}`, 'jobs', 'add', 'mailer', 'send', '--params', '{"to":"cli@example.org"}']);
    expect(added.code).toBe(0);
    const id = added.stdout.trim();
    await page.locator(`#jobs tr[data-id="${id}"]`).waitFor({ timeout: 10_000 });
    expect(await page.locator(`#jobs tr[data-id="${id}"]`).textContent()).toContain('mailer.send');
    expect(problems).toEqual([]);
  });

  it('shows each attempt\'s error on a failed job\'s page, and Retry changes its state', async () => {
    const store = tempStore();
    const { url } = await testWebServer(store);
    const id = await failedJob(store, 3);
    const { page, problems } = await openPage();
    await page.goto(`${url}/jobs/${id}`);
    await expect.poll(() => page.locator('.attempt').count()).toBe(3);
    for (const attempt of [1, 2, 3]) {
      const text = await page.locator('.attempt').nth(attempt - 1).textContent();
      expect(text).toContain(`Attempt ${attempt} ·`);
      expect(text).toContain(`TypeError: attempt ${attempt} broke`);
      expect(text).toContain(`at flaky (plugin.ts:${attempt})`);
    }
    await expect.poll(() => page.locator('h2 span').textContent()).toBe('failed');
    await page.locator('button[data-action="retry"]').click();
    await expect.poll(() => page.locator('h2 span').textContent()).toBe('waiting');
    expect((await store.getJob(id))?.state).toBe('waiting');
    expect(problems).toEqual([]);
  });

  it('refuses a viewer\'s forged POST with 403, server-side', async () => {
    const store = tempStore();
    const { url } = await testWebServer(store, { withUsers: true });
    const id = await failedJob(store, 1);
    const { page } = await openPage(VIEWER);
    await page.goto(`${url}/jobs/${id}`);
    await page.locator('.attempt').first().waitFor();
    const status = await page.evaluate(async (jobId) => (await fetch(`/api/jobs/${jobId}/retry`, { method: 'POST' })).status, id);
    expect(status).toBe(403);
    expect((await store.getJob(id))?.state).toBe('failed');
    // The same request from an operator goes through: the refusal is the role's.
    const operator = await openPage(OPERATOR);
    await operator.page.goto(`${url}/jobs/${id}`);
    expect(await operator.page.evaluate(async (jobId) => (await fetch(`/api/jobs/${jobId}/retry`, { method: 'POST' })).status, id)).toBe(200);
  });

  it('runs nothing from a job whose params, error, notes and tags hold markup', async () => {
    const store = tempStore();
    const { url } = await testWebServer(store);
    const evil = '<img src=x onerror="window.__pwned=1;alert(1)"><script>window.__pwned=2</script>';
    const { id } = await store.addJob({ service: 'svc', method: 'run', params: JSON.stringify({ json: { html: evil } }), runAt: Date.now() + 3_600_000, priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now(), tags: [evil], key: evil });
    // The same markup as a paused target, as a concurrency key with a job running and one parked, and as a rate limit's name (the Limits page).
    await store.pause(evil.slice(0, evil.lastIndexOf('.')), evil.slice(evil.lastIndexOf('.') + 1), Date.now());
    await store.setRateLimit({ name: evil, limit: 1, perMs: 60_000 });
    await store.addJobs([newJob({ concurrency: { key: evil, limit: 1 } }), newJob({ concurrency: { key: evil, limit: 1 } })]);
    await store.claim({ owner: 'w', limit: 5, now: Date.now(), isolated: 'skip' });
    const { page, problems } = await openPage();
    for (const path of [`/jobs/${id}`, '/jobs', `/jobs?q=${encodeURIComponent('<img')}`, '/limits']) {
      await page.goto(`${url}${path}`);
      await page.getByText('onerror=', { exact: false }).first().waitFor();
      expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(await page.locator('main img').count()).toBe(0);
    }
    expect(problems).toEqual([]);
  });

  it('keeps filters in the URL through a reload and back', async () => {
    const store = tempStore();
    const { url } = await testWebServer(store);
    await store.addJobs([
      { service: 'a', method: 'x', params: '{"json":"apple"}', runAt: Date.now() + 3_600_000, priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now(), tags: ['red'] },
      { service: 'b', method: 'y', params: '{"json":"berry"}', runAt: Date.now() + 3_600_000, priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: Date.now() },
    ]);
    const { page, problems } = await openPage();
    await page.goto(`${url}/jobs`);
    await expect.poll(() => page.locator('#jobs tr[data-id]').count()).toBe(2);
    await page.fill('input[name="target"]', 'a.x');
    await page.fill('input[name="q"]', 'apple');
    await page.click('button[type="submit"]');
    await expect.poll(() => page.url()).toContain('target=a.x');
    await expect.poll(() => page.locator('#jobs tr[data-id]').count()).toBe(1);
    await page.reload();
    await expect.poll(() => page.locator('#jobs tr[data-id]').count()).toBe(1);
    expect(await page.inputValue('input[name="target"]')).toBe('a.x');
    expect(await page.inputValue('input[name="q"]')).toBe('apple');
    await page.goBack();
    await expect.poll(() => page.locator('#jobs tr[data-id]').count()).toBe(2);
    await page.goForward();
    await expect.poll(() => page.locator('#jobs tr[data-id]').count()).toBe(1);
    expect(await page.inputValue('input[name="q"]')).toBe('apple');
    expect(problems).toEqual([]);
  });

  it('shows a job\'s parents and dependants with their states as links to their pages, and why it waits', async () => {
    const store = tempStore();
    const { url } = await testWebServer(store);
    const parent = await store.addJob(newJob({ method: 'first', runAt: Date.now() + 3_600_000 }));
    const child = await store.addJob(newJob({ method: 'second', after: [{ id: parent.id }] }));
    const grandchild = await store.addJob(newJob({ method: 'third', after: [{ id: child.id }] }));
    const { page, problems } = await openPage();
    await page.goto(`${url}/jobs/${child.id}`);
    await expect.poll(() => page.locator('#why').textContent()).toBe('waiting for 1 parent');
    const parentItem = page.locator(`#parents li[data-id="${parent.id}"]`);
    expect(await parentItem.textContent()).toBe(`#${parent.id} svc.first waiting`);
    expect(await page.locator(`#dependants li[data-id="${grandchild.id}"]`).textContent()).toBe(`#${grandchild.id} svc.third waiting`);
    await parentItem.locator('a').click();
    await expect.poll(() => page.url()).toBe(`${url}/jobs/${parent.id}`);
    await expect.poll(() => page.locator(`#dependants li[data-id="${child.id}"]`).textContent()).toBe(`#${child.id} svc.second waiting`);
    expect(await page.locator('#parents').textContent()).toContain('none');
    expect(await page.locator('#why').textContent()).toBe('');
    // The parent is cancelled: the child's page, live, says which parent cancelled it.
    await page.goto(`${url}/jobs/${child.id}`);
    await page.locator('#live.on').waitFor();
    await store.cancel(parent.id, Date.now());
    await expect.poll(() => page.locator('#why').textContent()).toBe(`cancelled because parent #${parent.id} cancelled`);
    expect(await page.locator('h2 span').textContent()).toBe('cancelled');
    expect(problems).toEqual([]);
  });

  it('pauses a target from a job\'s page: a real worker leaves its new job waiting, shown as paused, and runs it once resumed', async () => {
    const store = tempStore();
    const { url, logLines } = await testWebServer(store);
    const worker = startMain(workerArgs(store.path, '--worker'));
    await worker.waitForLog((line) => line.msg === 'worker started');
    const echo = (n: number) => store.addJob(newJob({ service: 'probe', method: 'echo', params: JSON.stringify({ json: { n } }) }));
    const state = async (id: number) => (await store.getJob(id))?.state;
    const first = await echo(1);
    await expect.poll(() => state(first.id), { timeout: 10_000 }).toBe('succeeded');

    const { page, problems } = await openPage();
    await page.goto(`${url}/jobs/${first.id}`);
    await page.locator('button[data-pause="probe.echo"]').click();
    await page.locator('button[data-resume="probe.echo"]').waitFor();
    expect(await store.listPaused()).toEqual([{ service: 'probe', method: 'echo', at: expect.any(Number) }]);

    // Added after it, due no earlier, of a method that is not paused: once the worker has run it, every claim
    // that could have taken the paused job has met it. Never claimed: no attempt counted.
    const held = await echo(2);
    const other = await store.addJob(newJob({ service: 'probe', method: 'sleep', params: JSON.stringify({ json: { ms: 1 } }) }));
    await expect.poll(() => state(other.id), { timeout: 10_000 }).toBe('succeeded');
    expect(await store.getJob(held.id)).toMatchObject({ state: 'waiting', attempts: 0 });
    await page.goto(`${url}/jobs/${held.id}`);
    await expect.poll(() => page.locator('#why').textContent()).toBe('its target probe.echo is paused');
    expect(await page.locator('h2 span').textContent()).toBe('waiting');

    await page.goto(`${url}/limits`);
    expect(await page.locator('#paused tr[data-target="probe.echo"]').textContent()).toContain('probe.echo');
    await page.locator('#paused button[data-resume="probe.echo"]').click();
    await expect.poll(() => page.locator('#paused').textContent()).toContain('Nothing is paused.');
    await page.goto(`${url}/jobs/${held.id}`);
    await expect.poll(() => page.locator('h2 span').textContent(), { timeout: 10_000 }).toBe('succeeded');
    expect(await page.locator('#why').textContent()).toBe('');
    expect(logLines().filter((line) => (line.web as { target?: string } | undefined)?.target === 'probe.echo').map((line) => (line.web as { action: string }).action)).toEqual(['paused', 'resumed']);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(problems).toEqual([]);
  }, 30_000);

  it('pauses and resumes a recurring job from the Recurring page, saying so, with its name shown as text', async () => {
    const store = tempStore();
    const { url, logLines } = await testWebServer(store);
    const name = '<img src=x onerror="window.__pwned=1">';
    const at = Date.now();
    const spec: RecurringSpec = {
      service: 'report', method: 'daily', name, params: '{"json":null}', everyMs: 60_000, cron: null, tz: null, misfire: 'once',
      priority: 0, maxAttempts: 1, timeoutMs: null, anchor: at, nextRunAt: at + 60_000, createdAt: at,
    };
    const { id } = await store.upsertRecurring(spec);
    const { page, problems } = await openPage();
    await page.goto(`${url}/recurring`);
    const row = page.locator(`#recurring tr[data-id="${id}"]`);
    await expect.poll(() => row.locator('li').count()).toBe(5);
    expect(await row.textContent()).toContain(`report.daily#${name}`);

    await row.locator('button[data-action="pause"]').click();
    await expect.poll(() => page.locator('#flash').textContent()).toBe(`paused report.daily#${name}`);
    await expect.poll(() => row.textContent()).toContain('paused since');
    expect(await row.locator('li').count()).toBe(0);
    expect(await row.getAttribute('class')).toBe('paused');
    expect((await store.listRecurring())[0]?.pausedAt).toEqual(expect.any(Number));

    await row.locator('button[data-action="resume"]').click();
    await expect.poll(() => page.locator('#flash').textContent()).toContain(`resumed report.daily#${name}: next run`);
    await expect.poll(() => row.locator('li').count()).toBe(5);
    expect(await row.textContent()).not.toContain('paused since');
    await row.locator('button[data-action="pause"]').waitFor();
    expect((await store.listRecurring())[0]?.pausedAt).toBeNull();
    expect(logLines().map((line) => (line.web as { action?: string } | undefined)?.action).filter((a) => a?.endsWith('recurring'))).toEqual(['paused recurring', 'resumed recurring']);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('main img').count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it('shows the rate limits on the Limits page, live: starts in the last window, and when a full one is free again', async () => {
    const store = tempStore();
    const { url, worker } = await testWebServer(store);
    const { page, problems } = await openPage();
    await page.goto(`${url}/limits`);
    await page.locator('#rate-limits').getByText('No rate limit is set.').waitFor();
    await worker.setRateLimit('api', { limit: 1, perSeconds: 60 });
    await worker.setRateLimit('mail', { limit: 10, perSeconds: 1 });
    const { ids: [first] } = await store.addJobs([newJob({ rateLimit: 'api' }), newJob({ rateLimit: 'api' })]);
    expect((await store.claim({ owner: 'w', limit: 5, now: Date.now(), isolated: 'skip' })).map((j) => j.id)).toEqual([first]);
    const freeAt = new Date((await store.getJob(first!))!.startedAt! + 60_000).toISOString();
    const shown = await page.evaluate((iso) => new Date(iso).toLocaleString(), freeAt);
    const cells = (name: string) => page.locator(`#rate-limits tr[data-name="${name}"] td`).allTextContents();
    await expect.poll(() => cells('api')).toEqual(['api', '1 per 60 s', '1', `free again at ${shown}`]);
    expect(await cells('mail')).toEqual(['mail', '10 per 1 s', '0', 'room now']);
    expect(problems).toEqual([]);
  });

  it('refuses a viewer\'s forged pause and resume with 403, server-side', async () => {
    const store = tempStore();
    const { url } = await testWebServer(store, { withUsers: true });
    const forge = (page: Page, method: 'POST' | 'DELETE') => page.evaluate(async (how) => (await fetch(how === 'POST' ? '/api/paused' : '/api/paused/mail.send', {
      method: how, headers: { 'Content-Type': 'application/json' }, ...(how === 'POST' ? { body: JSON.stringify({ target: 'mail.send' }) } : {}),
    })).status, method);
    const viewer = await openPage(VIEWER);
    await viewer.page.goto(`${url}/limits`);
    await viewer.page.locator('#paused').getByText('Nothing is paused.').waitFor();
    expect(await forge(viewer.page, 'POST')).toBe(403);
    expect(await store.listPaused()).toEqual([]);
    // The same request from an operator goes through: the refusal is the role's.
    const operator = await openPage(OPERATOR);
    await operator.page.goto(`${url}/limits`);
    expect(await forge(operator.page, 'POST')).toBe(201);
    expect(await forge(viewer.page, 'DELETE')).toBe(403);
    expect(await store.listPaused()).toHaveLength(1);
    expect(await forge(operator.page, 'DELETE')).toBe(200);
    expect(await store.listPaused()).toEqual([]);
  });
});
