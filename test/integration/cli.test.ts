import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deserialize } from '../../src/serialization/payload.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import { runCliHere } from '../helpers/cli.ts';
import { runMain } from '../helpers/processes.ts';
import { describeStores, testDatabase } from '../helpers/test-database.ts';
import { tempDir } from '../helpers/temp.ts';

/** A fresh database and the command line pointed at it, run in this process (see runCliHere). */
function db(): { dbPath: string; run: (...args: string[]) => ReturnType<typeof runCliHere> } {
  const dbPath = join(tempDir('cli-'), 'jobs.db');
  return { dbPath, run: (...args) => runCliHere(['--set', `worker.dbpath=${dbPath}`, ...args]) };
}

describe('main.ts jobs', () => {
  it('adds jobs of every kind, lists and shows them as tables and as JSON', async () => {
    const { dbPath, run } = db();
    const now = await run('jobs', 'add', 'mail', 'send', '--params', '{"to":"ada"}');
    expect(now).toMatchObject({ code: 0, stdout: '1\n' });
    const later = await run('jobs', 'add', 'tmp', 'remove', '--at', '2030-01-01T00:00:00Z');
    expect(later).toMatchObject({ code: 0, stdout: '2\n' });
    expect((await run('jobs', 'add', 'rm', 'check', '--every', '60')).stdout).toBe('1\n');
    expect((await run('jobs', 'add', 'rm', 'report', '--cron', '0 6 * * 1', '--tz', 'Europe/Berlin', '--name', 'weekly')).stdout).toBe('2\n');

    const table = await run('jobs', 'list');
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+STATE\s+JOB\s+ATTEMPTS\s+RUN AT\s+OUTCOME$/);
    expect(rows).toHaveLength(2);
    // Aligned: every row's JOB column starts where the header's does.
    const column = header!.indexOf('JOB');
    expect(rows.map((row) => row.slice(column).split(' ')[0])).toEqual(['tmp.remove', 'mail.send']);

    const json = JSON.parse((await run('jobs', 'list', '--json')).stdout) as Record<string, unknown>[];
    expect(json.map((j) => j.id)).toEqual([2, 1]);
    expect(json[1]).toMatchObject({ id: 1, service: 'mail', method: 'send', params: { to: 'ada' }, state: 'waiting', attempts: 0, result: null, error: null });
    expect(json[0]).toMatchObject({ runAt: '2030-01-01T00:00:00.000Z' });

    const waiting = JSON.parse((await run('jobs', 'list', '--state', 'waiting', '--json')).stdout) as unknown[];
    expect(waiting).toHaveLength(2);
    expect(JSON.parse((await run('jobs', 'list', '--state', 'failed', '--json')).stdout)).toEqual([]);

    const recurring = JSON.parse((await run('jobs', 'list', '--recurring', '--json')).stdout) as Record<string, unknown>[];
    expect(recurring).toEqual([
      expect.objectContaining({ id: 1, service: 'rm', method: 'check', name: '', every: 60, cron: null, tz: null }),
      expect.objectContaining({ id: 2, service: 'rm', method: 'report', name: 'weekly', every: null, cron: '0 6 * * 1', tz: 'Europe/Berlin' }),
    ]);
    expect(typeof recurring[0]?.nextRunAt).toBe('string');
    expect((await run('jobs', 'list', '--recurring')).stdout).toMatch(/^ID\s+SIGNATURE\s+SCHEDULE\s+TZ\s+MISFIRE\s+NEXT RUN\n1\s+rm\.check\s+every 60 s/);

    const shown = await run('jobs', 'show', '1');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^id:\s+1$/m);
    expect(shown.stdout).toMatch(/^state:\s+waiting$/m);
    expect(JSON.parse((await run('jobs', 'show', '1', '--json')).stdout)).toMatchObject({ id: 1, params: { to: 'ada' } });

    expect(await run('jobs', 'clear', '--recurring')).toMatchObject({ code: 0, stdout: 'removed 2 recurring jobs\n' });
    const store = SqliteStore.open({ path: dbPath });
    expect(await store.listRecurring()).toEqual([]);
    expect(await store.listJobs()).toHaveLength(2);
    await store.close();
  });

  it('cancels, retries and removes, with attempts and timeouts from flags', async () => {
    const { dbPath, run } = db();
    expect((await run('jobs', 'add', 'svc', 'm', '--attempts', '5', '--timeout', '2.5')).stdout).toBe('1\n');
    expect(JSON.parse((await run('jobs', 'show', '1', '--json')).stdout)).toMatchObject({ maxAttempts: 5, timeoutSeconds: 2.5, errors: [] });
    expect(await run('jobs', 'cancel', '1')).toMatchObject({ code: 0, stdout: 'job 1 cancelled\n' });
    expect(await run('jobs', 'cancel', '1')).toMatchObject({ code: 0, stdout: 'job 1 had already finished; nothing to cancel\n' });
    expect(await run('jobs', 'retry', '1')).toMatchObject({ code: 0, stdout: 'job 1 is waiting again\n' });
    expect(await run('jobs', 'retry', '1')).toMatchObject({ code: 2, stderr: 'error: job 1 cannot be retried because it is waiting to run already: only failed or cancelled jobs can be retried\n' });
    expect(await run('jobs', 'cancel', '7')).toMatchObject({ code: 1, stderr: 'error: no job with id 7\n' });

    await run('jobs', 'add', 'rm', 'check', '--every', '60', '--name', 'hourly');
    expect(await run('jobs', 'pause-recurring', 'rm.check#hourly')).toMatchObject({ code: 0, stdout: 'paused recurring job rm.check#hourly\n' });
    expect((await run('jobs', 'list', '--recurring')).stdout).toMatch(/rm\.check#hourly .* paused since \d{4}-/);
    expect(JSON.parse((await run('jobs', 'list', '--recurring', '--json')).stdout)).toEqual([expect.objectContaining({ signature: 'rm.check#hourly', pausedAt: expect.stringMatching(/^\d{4}-/) })]);
    expect(await run('jobs', 'resume-recurring', 'rm.check#hourly')).toMatchObject({ code: 0, stdout: 'resumed recurring job rm.check#hourly\n' });
    expect(JSON.parse((await run('jobs', 'list', '--recurring', '--json')).stdout)).toEqual([expect.objectContaining({ pausedAt: null })]);
    expect(await run('jobs', 'pause-recurring', 'rm.check#daily')).toMatchObject({ code: 1, stderr: 'error: no recurring job with signature rm.check#daily\n' });
    expect(await run('jobs', 'resume-recurring', 'nodot')).toMatchObject({ code: 2 });
    expect(await run('jobs', 'remove-recurring', 'rm.check#hourly')).toMatchObject({ code: 0, stdout: 'removed recurring job rm.check#hourly\n' });
    expect(await run('jobs', 'remove-recurring', 'rm.check#hourly')).toMatchObject({ code: 1, stderr: 'error: no recurring job with signature rm.check#hourly\n' });
    expect(await run('jobs', 'remove-recurring', 'nodot')).toMatchObject({ code: 2 });

    const store = SqliteStore.open({ path: dbPath });
    expect(await store.getJob(1)).toMatchObject({ state: 'waiting', maxAttempts: 5, timeoutMs: 2500 });
    await store.close();
  });

  it('says why a job that succeeded or is running cannot be retried', async () => {
    const { dbPath, run } = db();
    const store = SqliteStore.open({ path: dbPath });
    const job = () => ({ service: 's', method: 'm', params: '{"json":null}', runAt: 0, priority: 0, maxAttempts: 2, timeoutMs: null, createdAt: 0 });
    await store.addJob(job());
    await store.addJob(job());
    const [done, running] = await store.claim({ owner: 'w', limit: 2, now: 1, isolated: 'skip' });
    await store.complete([{ ...done!, owner: 'w', outcome: 'succeeded', result: null, at: 2 }]);
    await store.close();
    expect(await run('jobs', 'retry', String(done!.id))).toEqual({
      code: 2,
      stdout: '',
      stderr: `error: job ${done!.id} cannot be retried because it succeeded (add a new job to run it again): only failed or cancelled jobs can be retried\n`,
    });
    expect(await run('jobs', 'retry', String(running!.id))).toMatchObject({
      code: 2,
      stderr: `error: job ${running!.id} cannot be retried because it is running: only failed or cancelled jobs can be retried\n`,
    });
  });

  it('takes typed params back as jobs show --json prints them: a Date, a BigInt, a Map come back as themselves', async () => {
    const { dbPath, run } = db();
    const params = { at: new Date('2026-05-01T09:30:00Z'), big: 2n ** 70n, byName: new Map([['ada', new Set([1, 2])]]), bytes: Buffer.from('hi'), plain: [1, 'two'] };
    const store = SqliteStore.open({ path: dbPath });
    await new WorkerService(store).add('mail', 'send', params);
    const shown = JSON.parse((await run('jobs', 'show', '1', '--json')).stdout) as { params: unknown; paramsSuperjson: unknown };
    // The readable part stays what it was; the typed form is beside it.
    expect(shown.params).toMatchObject({ at: '2026-05-01T09:30:00.000Z', big: '1180591620717411303424' });
    expect(shown.paramsSuperjson).toEqual(JSON.parse((await store.getJob(1))!.params));
    expect(await run('jobs', 'add', 'mail', 'send', '--params-superjson', JSON.stringify(shown.paramsSuperjson))).toEqual({ code: 0, stdout: '2\n', stderr: '' });
    const copy = deserialize((await store.getJob(2))!.params) as typeof params;
    expect(copy).toEqual(params);
    expect(copy.at).toBeInstanceOf(Date);
    expect(typeof copy.big).toBe('bigint');
    expect(copy.byName.get('ada')).toEqual(new Set([1, 2]));
    expect(Buffer.isBuffer(copy.bytes)).toBe(true);
    // Plain JSON in the typed form needs no "meta"; jobs list --json prints the typed form too.
    expect(await run('jobs', 'add', 'mail', 'send', '--params-superjson', '{"json":{"to":"ada"}}')).toMatchObject({ code: 0, stdout: '3\n' });
    const listed = JSON.parse((await run('jobs', 'list', '--json')).stdout) as { id: number; paramsSuperjson: unknown }[];
    expect(listed.find((job) => job.id === 3)?.paramsSuperjson).toEqual({ json: { to: 'ada' } });
    await store.close();
  });

  it('shows every attempt\'s error', async () => {
    const { dbPath, run } = db();
    const store = SqliteStore.open({ path: dbPath });
    const { id } = await store.addJob({ service: 's', method: 'm', params: '{"json":null}', runAt: 0, priority: 0, maxAttempts: 2, timeoutMs: null, createdAt: 0 });
    for (const [attempt, retryAt] of [[1, 1], [2, null]] as const) {
      const [job] = await store.claim({ owner: 'w', limit: 1, now: attempt, isolated: 'skip' });
      await store.complete([{ ...job!, owner: 'w', outcome: 'failed', error: { name: 'Error', message: `failure ${attempt}`, stack: `Error: failure ${attempt}\n    at job (plugin.ts:1:1)` }, at: attempt, retryAt }]);
    }
    await store.close();
    const shown = (await run('jobs', 'show', String(id))).stdout;
    expect(shown).toMatch(/^attempt 1:\s+1970-01-01T00:00:00.001Z Error: failure 1\n\s+at job \(plugin.ts:1:1\)$/m);
    expect(shown).toMatch(/^attempt 2:\s+1970-01-01T00:00:00.002Z Error: failure 2$/m);
    const json = JSON.parse((await run('jobs', 'show', String(id), '--json')).stdout) as { errors: unknown[] };
    expect(json.errors).toEqual([
      expect.objectContaining({ attempt: 1, message: 'failure 1' }),
      expect.objectContaining({ attempt: 2, message: 'failure 2' }),
    ]);
  });

  it.each([
    [['jobs', 'add', 'svc', 'm', '--attempts', '0'], '--attempts must be an integer >= 1, got `0`'],
    [['jobs', 'add', 'svc', 'm', '--attempts', 'many'], '--attempts must be an integer, got `many`'],
    [['jobs', 'add', 'svc', 'm', '--timeout', '-1'], '--timeout must be a positive number of seconds, got `-1`'],
    [['jobs', 'add', 'svc', 'm', '--params', '{bad'], '--params must be JSON, got `{bad`'],
    [['jobs', 'add', 'svc', 'm', '--at', '2030-01-01T00:00'], '--at must be an ISO-8601 instant with a zone'],
    [['jobs', 'add', 'svc', 'm', '--every', '-3'], '--every must be a positive number of seconds, got `-3`'],
    [['jobs', 'add', 'svc', 'm', '--cron', 'whenever'], 'Expected --cron to be a valid cron expression, got `whenever`'],
    [['jobs', 'add', 'svc', 'm', '--cron', '0 * * * *', '--tz', 'Moon/Base'], 'Expected --tz to be an IANA time zone such as "Europe/Berlin", got `Moon/Base` (unknown time zone)'],
    [['jobs', 'add', 'svc', 'm', '--at', '2030-01-01T00:00:00Z', '--every', '5'], '--at, --every and --cron exclude each other'],
    [['jobs', 'add', '', 'm'], 'Expected `service` to be a non-empty string'],
    [['jobs', 'add', 'svc', 'm', '--params', '1', '--params-superjson', '{"json":1}'], '--params and --params-superjson exclude each other'],
    [['jobs', 'add', 'svc', 'm', '--params-superjson', '{"at":"2026-01-01"}'], '--params-superjson must be an object {"json": …, "meta": …} as `jobs show --json` prints in "paramsSuperjson", got `{"at":"2026-01-01"}`'],
    [['jobs', 'add', 'svc', 'm', '--params-superjson', '{"json":1,"meta":"Date"}'], 'its "meta" must be an object, got `"Date"`'],
    [['jobs', 'add', 'svc', 'm', '--params-superjson', '{"json":{"a":"x"},"meta":{"values":{"a":["Nope"]}}}'], '--params-superjson has a "meta" that does not fit its "json" (Unknown transformation: Nope)'],
    [['jobs', 'add', 'svc', 'm', '--params-superjson', '{"json":{"a":"x"},"meta":{"values":{"a":["Date"]}}}'], 'params.a is an invalid Date'],
    [['jobs', 'add', 'svc', 'm', '--wait-timeout', '5'], '--wait-timeout applies to --wait: add --wait, or drop it'],
    [['jobs', 'add', 'svc', 'm', '--wait', '--wait-timeout', 'soon'], '--wait-timeout must be a positive number of seconds, got `soon`'],
    [['jobs', 'list', '--state', 'done'], '--state must be one of waiting, running, succeeded, failed, cancelled; got `done`'],
    [['jobs', 'show', 'abc'], 'ID must be a positive integer, got `abc`'],
    [['jobs', 'clear'], 'jobs clear needs --recurring'],
  ])('refuses %j with exit 2 and a message naming the input', async (args, message) => {
    const { run } = db();
    const result = await run(...args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('adds a job that runs after others (--after, repeatable) and shows parents and dependants with their states', async () => {
    const { run } = db();
    expect((await run('jobs', 'add', 'a', 'one')).stdout).toBe('1\n');
    expect((await run('jobs', 'add', 'a', 'two')).stdout).toBe('2\n');
    expect(await run('jobs', 'add', 'a', 'three', '--after', '2', '--after', '1')).toMatchObject({ code: 0, stdout: '3\n' });
    const shown = (await run('jobs', 'show', '3')).stdout;
    expect(shown).toMatch(/^runs after:\s+#2 waiting, #1 waiting \(waiting for 2\)$/m);
    expect((await run('jobs', 'show', '1')).stdout).toMatch(/^dependants:\s+#3 waiting$/m);
    expect(JSON.parse((await run('jobs', 'show', '3', '--json')).stdout)).toMatchObject({ after: [2, 1], waitingFor: 2, parents: [{ id: 2, state: 'waiting' }, { id: 1, state: 'waiting' }], dependants: [] });
    expect(await run('jobs', 'cancel', '1')).toMatchObject({ code: 0 });
    expect((await run('jobs', 'show', '3')).stdout).toMatch(/^cancelled by:\s+#1 /m);

    expect(await run('jobs', 'add', 'z', 'w', '--concurrency-key', 'zone-a', '--concurrency-limit', '2')).toMatchObject({ code: 0, stdout: '4\n' });
    expect((await run('jobs', 'show', '4')).stdout).toMatch(/^concurrency:\s+key "zone-a", at most 2 at once$/m);
    const badLimit = await run('jobs', 'add', 'z', 'w', '--concurrency-key', 'zone-a', '--concurrency-limit', '0');
    expect(badLimit.code).not.toBe(0);
    expect(badLimit.stderr).toMatch(/--concurrency-limit/);
    expect((await run('jobs', 'add', 'z', 'w', '--concurrency-limit', '2')).stderr).toMatch(/--concurrency-limit applies to --concurrency-key/);

    const unknown = await run('jobs', 'add', 'a', 'four', '--after', '99');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/after: no job with id 99/);
    const bad = await run('jobs', 'add', 'a', 'four', '--after', 'x');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--after/);
    expect(JSON.parse((await run('jobs', 'list', '--json')).stdout)).toHaveLength(4);
  });

  it('pauses and resumes a method or a whole service, lists what is paused, and refuses a bad target', async () => {
    const { run } = db();
    expect(await run('jobs', 'pause', 'mail.send')).toMatchObject({ code: 0, stdout: 'paused mail.send: its jobs wait until jobs resume mail.send\n' });
    expect((await run('jobs', 'pause', 'mail.send')).stdout).toBe('mail.send was paused already\n');
    expect((await run('jobs', 'pause', 'reports')).code).toBe(0);
    expect((await run('jobs', 'paused')).stdout).toMatch(/^mail\.send {2}since \d{4}-.*\nreports {2}since /);
    expect(JSON.parse((await run('jobs', 'paused', '--json')).stdout)).toEqual([
      { service: 'mail', method: 'send', at: expect.any(String) }, { service: 'reports', method: null, at: expect.any(String) },
    ]);
    expect(await run('jobs', 'add', 'mail', 'send')).toMatchObject({ code: 0, stdout: '1\n' });
    expect((await run('jobs', 'show', '1')).stdout).toMatch(/^state:\s+waiting$/m);
    expect(await run('jobs', 'resume', 'mail.send')).toMatchObject({ code: 0, stdout: 'resumed mail.send\n' });
    expect((await run('jobs', 'resume', 'mail.send')).stdout).toBe('mail.send was not paused\n');
    const bad = await run('jobs', 'pause', 'mail.');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/Expected a target such as "service\.method" or "service", got `mail\.`/);
  });

  it('exits 1 for a job id that does not exist', async () => {
    const { run } = db();
    expect(await run('jobs', 'show', '42')).toMatchObject({ code: 1, stderr: 'error: no job with id 42\n' });
  });

  it('loses nothing already stored when refusing bad input', async () => {
    const { dbPath, run } = db();
    await run('jobs', 'add', 'svc', 'm');
    await run('jobs', 'add', 'svc', 'm', '--params', '{"f": nope}');
    const store = SqliteStore.open({ path: dbPath });
    expect(await store.listJobs()).toHaveLength(1);
    await store.close();
  });

  it('refuses a method name that no method has, such as params where the method goes', async () => {
    const { dbPath, run } = db();
    const misplaced = await run('jobs', 'add', 'mail.send', '{"to":"ada"}');
    expect(misplaced).toMatchObject({ code: 2, stdout: '' });
    expect(misplaced.stderr).toContain('Expected <method> to be a method name (letters, digits, _ and $, not starting with a digit), got `{"to":"ada"}`; params go in --params');
    expect(await run('jobs', 'add', 'mail', '2nd')).toMatchObject({ code: 2 });
    expect(await run('jobs', 'add', 'mail.eu', 'send_v2$')).toMatchObject({ code: 0, stdout: '1\n' });
    expect(await run('jobs', 'add', 'courrier', 'envoyé')).toMatchObject({ code: 0, stdout: '2\n' });
    const store = SqliteStore.open({ path: dbPath });
    expect((await store.listJobs()).map((job) => `${job.service} ${job.method}`)).toEqual(['courrier envoyé', 'mail.eu send_v2$']);
    await store.close();
  });
});

describeStores('main.ts jobs clear --recurring', (factory) => {
  it('removes every recurring job and keeps the jobs, on either store', async () => {
    const database = await testDatabase(factory);
    const run = (...args: string[]): ReturnType<typeof runCliHere> => runCliHere([...database.args, ...args]);
    expect((await run('jobs', 'add', 'rm', 'check', '--every', '60')).code).toBe(0);
    expect((await run('jobs', 'add', 'rm', 'report', '--cron', '0 6 * * 1', '--tz', 'Europe/Berlin', '--name', 'weekly')).code).toBe(0);
    expect((await run('jobs', 'add', 'mail', 'send', '--params', '{"to":"ada"}')).code).toBe(0);
    expect((await database.store.listRecurring()).map((r) => `${r.service}.${r.method}#${r.name}`)).toEqual(['rm.check#', 'rm.report#weekly']);

    expect(await run('jobs', 'clear', '--recurring')).toMatchObject({ code: 0, stdout: 'removed 2 recurring jobs\n', stderr: '' });
    // Seen by another process's store (the test's own), as a worker would see it.
    expect(await database.store.listRecurring()).toEqual([]);
    expect((await database.store.listJobs()).map((job) => `${job.service}.${job.method}`)).toEqual(['mail.send']);
    expect((await run('jobs', 'list', '--recurring', '--json')).stdout).toBe('[]\n');
    expect(await run('jobs', 'clear', '--recurring')).toMatchObject({ code: 0, stdout: 'removed 0 recurring jobs\n' });
  });
});

describe('main.ts --root', () => {
  it('finds deploy/config.json and a relative worker.dbpath in the folder it names', async () => {
    const root = tempDir('cli-root-');
    mkdirSync(join(root, 'deploy'));
    writeFileSync(join(root, 'deploy', 'config.json'), JSON.stringify({ 'worker.dbpath': 'deploy/jobs.db' }));
    expect(await runCliHere(['--root', root, 'jobs', 'add', 'mail', 'send'])).toEqual({ code: 0, stdout: '1\n', stderr: '' });
    const store = SqliteStore.open({ path: join(root, 'deploy', 'jobs.db') });
    expect(await store.listJobs()).toEqual([expect.objectContaining({ id: 1, service: 'mail', method: 'send' })]);
    await store.close();
  });
});

describe('main.ts as a process', () => {
  it('jobs prints to stdout and stderr and exits with the status of the command: 0, 1 or 2', async () => {
    const dbPath = join(tempDir('cli-'), 'jobs.db');
    const run = (...args: string[]) => runMain(['--set', `worker.dbpath=${dbPath}`, 'jobs', ...args]);
    expect(await run('add', 'svc', 'm', '--params', '{"to":"ada"}')).toEqual({ code: 0, stdout: '1\n', stderr: '' });
    const [missing, refused] = await Promise.all([run('show', '7'), run('add', 'svc', 'm', '--attempts', '0')]);
    expect(missing).toEqual({ code: 1, stdout: '', stderr: 'error: no job with id 7\n' });
    expect(refused).toMatchObject({ code: 2, stdout: '' });
    expect(refused.stderr).toContain('--attempts must be an integer >= 1, got `0`');
    const store = SqliteStore.open({ path: dbPath });
    expect(await store.listJobs()).toEqual([expect.objectContaining({ id: 1, service: 'svc', method: 'm', params: '{"json":{"to":"ada"}}' })]);
    await store.close();
  });

  it('jobs add --wait --wait-timeout gives up waiting with exit 1, saying that no worker claimed the job, which stays', async () => {
    const dbPath = join(tempDir('cli-'), 'jobs.db');
    const result = await runMain(['--set', `worker.dbpath=${dbPath}`, 'jobs', 'add', 'svc', 'm', '--wait', '--wait-timeout', '1']);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `error: job 1 did not finish within 1 s (--wait-timeout): no worker has claimed it: no worker is running jobs on ${dbPath} `
        + '(is a worker, --worker, running with this worker.dbpath?); it stays in the database (jobs cancel 1 drops it)\n',
    });
    const store = SqliteStore.open({ path: dbPath });
    expect(await store.getJob(1)).toMatchObject({ state: 'waiting', attempts: 0 });
    await store.close();
  });

  it('jobs stats and jobs workers: counts, the oldest due job, failures per method, and the workers with their heartbeats', async () => {
    const { dbPath, run } = db();
    expect((await run('jobs', 'workers')).stdout).toMatch(/^no workers known to this database/);
    const store = SqliteStore.open({ path: dbPath });
    const now = Date.now();
    const job = { params: '{"json":null}', priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: now };
    await store.addJobs([
      { ...job, service: 'mail', method: 'send', runAt: now - 90_000 },
      { ...job, service: 'mail', method: 'send', runAt: now - 1000 },
      { ...job, service: 'report', method: 'build', runAt: now + 3_600_000 },
    ]);
    const owner = 'web-1:4711:3f9a0c1e@5b1e0f9c2a7d.4026531836';
    const [first] = await store.claim({ owner, limit: 1, now, isolated: 'skip' });
    await store.complete([{ id: first!.id, attempt: 1, database: first!.database, owner, at: now, outcome: 'failed', error: { name: 'Error', message: 'no relay' }, retryAt: null }]);
    await store.claim({ owner, limit: 1, now, isolated: 'skip' });
    await store.heartbeat(owner, [], now - 2000);
    await store.close();

    const stats = JSON.parse((await run('jobs', 'stats', '--json')).stdout) as Record<string, unknown>;
    expect(stats).toMatchObject({
      counts: { waiting: 1, running: 1, succeeded: 0, failed: 1, cancelled: 0 }, due: 0, scheduledLater: 1, oldestDueSeconds: null,
      failuresLastHour: [{ service: 'mail', method: 'send', failures: 1 }],
    });
    expect(Date.parse(stats.at as string)).toBeGreaterThanOrEqual(now);
    const text = await run('jobs', 'stats');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^waiting\s+1\s+\(0 due, 1 scheduled for later\)$/m);
    expect(text.stdout).toMatch(/^failed\s+1$/m);
    expect(text.stdout).toMatch(/^oldest due job: none is due$/m);
    expect(text.stdout).toMatch(/^\s+mail\.send\s+1$/m);

    const workers = JSON.parse((await run('jobs', 'workers', '--json')).stdout) as Record<string, unknown>[];
    expect(workers).toEqual([{ owner, host: 'web-1', pid: 4711, runningJobs: 1, lastHeartbeatAt: new Date(now - 2000).toISOString(), heartbeatAgeSeconds: expect.any(Number) }]);
    expect(workers[0]!.heartbeatAgeSeconds).toBeGreaterThanOrEqual(2);
    const table = (await run('jobs', 'workers')).stdout.trimEnd().split('\n');
    expect(table[0]).toMatch(/^HOST\s+PID\s+RUNNING\s+LAST HEARTBEAT\s+OWNER$/);
    expect(table[1]).toMatch(new RegExp(`^web-1\\s+4711\\s+1\\s+\\d+\\.\\d s ago\\s+${owner.replaceAll('.', '\\.')}$`));
  });

  it('jobs stats tells how long the oldest due job has waited', async () => {
    const { dbPath, run } = db();
    const store = SqliteStore.open({ path: dbPath });
    const now = Date.now();
    await store.addJob({ service: 'mail', method: 'send', params: '{"json":null}', priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: now, runAt: now - 90_000 });
    await store.close();
    const stats = JSON.parse((await run('jobs', 'stats', '--json')).stdout) as { due: number; oldestDueSeconds: number };
    expect(stats.due).toBe(1);
    expect(stats.oldestDueSeconds).toBeGreaterThanOrEqual(90);
    expect(stats.oldestDueSeconds).toBeLessThan(120);
    expect((await run('jobs', 'stats')).stdout).toMatch(/^oldest due job: due for 1 min 3\d s$/m);
  });

  it('--help prints usage and exits 0', async () => {
    const result = await runMain(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: main.ts');
    expect(result.stdout).toContain('--worker');
    expect(result.stdout).toContain('jobs');
  });

  it('an unknown flag prints usage to stderr and exits 2', async () => {
    const result = await runMain(['--wrker']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown option '--wrker'");
    expect(result.stderr).toContain('Usage: main.ts');
    expect(result.stdout).toBe('');
  });

  it('a bad --concurrency is a usage error', async () => {
    const result = await runMain(['--worker', '--concurrency', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('expected a positive integer, got "0"');
  });

  it('an unknown --set key is refused, naming it', async () => {
    const dir = tempDir('cli-');
    const result = await runMain(['--set', `worker.dbpath=${join(dir, 'x.db')}`, '--set', 'wroker.concurrency=3', 'jobs', 'list']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('wroker.concurrency');
  });
});
