import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, SerializationError } from '../../src/errors.ts';
import { outsideprocess } from '../../src/worker/outsideprocess.ts';
import { serviceMap } from '../../src/worker/resolve-target.ts';
import { WorkerService, type BulkJob } from '../../src/worker/worker-service.ts';
import { tempStore } from '../helpers/store.ts';

/** Runs `add` with the process in `zone` (Node follows a change of `TZ` at once), then puts the zone back. */
async function inProcessZone<T>(zone: string, add: () => Promise<T>): Promise<T> {
  const before = process.env.TZ;
  process.env.TZ = zone;
  try {
    expect(Intl.DateTimeFormat().resolvedOptions().timeZone, 'the process zone really changed').toBe(zone);
    return await add();
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}

function service(now = 1_000_000) {
  const store = tempStore();
  return { store, jobs: new WorkerService(store, { clock: { now: () => now } }) };
}

describe('WorkerService', () => {
  it('add stores a job due now and resolves to a handle with its id', async () => {
    const { store, jobs } = service();
    const handle = await jobs.add('mail', 'send', { to: 'ada' });
    expect(await store.getJob(handle.id)).toMatchObject({ service: 'mail', method: 'send', state: 'waiting', runAt: 1_000_000, maxAttempts: 0, timeoutMs: null, priority: 0 });
  });

  it('addAsScheduled stores the run time', async () => {
    const { store, jobs } = service();
    const { id } = await jobs.addAsScheduled('tmp', 'remove', null, new Date(2_000_000));
    expect((await store.getJob(id))?.runAt).toBe(2_000_000);
  });

  it('takes options: attempts, timeout, priority', async () => {
    const { store, jobs } = service();
    const { id } = await jobs.add('s', 'm', null, { maxAttempts: 5, timeout: 2.5, priority: 'high' });
    expect(await store.getJob(id)).toMatchObject({ maxAttempts: 5, timeoutMs: 2500, priority: 10 });
  });

  it.each([
    [() => ['', 'm'], 'Expected `service` to be a non-empty string, got an empty string'],
    [() => ['s', '  '], 'Expected `method` to be a non-empty string, got `  ` (string)'],
    [() => [42, 'm'], 'Expected `service` to be a non-empty string, got `42` (number)'],
  ])('refuses bad names (%#)', async (args, message) => {
    const { jobs } = service();
    const [svc, method] = args() as [string, string];
    await expect(jobs.add(svc, method, null)).rejects.toThrow(InvalidArgumentError);
    await expect(jobs.add(svc, method, null)).rejects.toThrow(message);
  });

  it('refuses a runAt that is not a valid Date', async () => {
    const { jobs } = service();
    await expect(jobs.addAsScheduled('s', 'm', null, new Date('nope'))).rejects.toThrow('Expected `runAt` to be a valid Date, got an invalid Date');
    await expect(jobs.addAsScheduled('s', 'm', null, '2026-01-01' as unknown as Date)).rejects.toThrow('Expected `runAt` to be a valid Date, got `2026-01-01` (string)');
  });

  it.each([
    [{ maxAttempts: 0 }, 'Expected `maxAttempts` to be an integer >= 1, got `0`'],
    [{ maxAttempts: 1.5 }, 'Expected `maxAttempts` to be an integer >= 1, got `1.5`'],
    [{ timeout: -1 }, 'Expected `timeout` to be a positive number of seconds, got `-1`'],
    [{ priority: 'urgent' }, 'Expected `priority` to be "high", "normal", "low" or an integer, got `urgent`'],
  ])('refuses option %o, naming it and the accepted values', async (options, message) => {
    const { jobs } = service();
    await expect(jobs.add('s', 'm', null, options as never)).rejects.toThrow(message);
  });

  it('fixes the method\'s default priority when a job is added; attempts and timeout given stay, those not given are left to the worker', async () => {
    const store = tempStore();
    const registry = serviceMap({
      reports: { build: outsideprocess({ maxAttempts: 7, timeout: 60, priority: 'low' })(async () => 'built') },
    });
    const jobs = new WorkerService(store, { services: registry });
    const marked = await jobs.add('reports', 'build', null);
    // Priority orders the claim: it is fixed now. Attempts and timeout: where the job runs, as the method says then.
    expect(await store.getJob(marked.id)).toMatchObject({ maxAttempts: 0, timeoutMs: null, priority: -10 });
    const overridden = await jobs.add('reports', 'build', null, { maxAttempts: 2, timeout: 5, priority: 'high' });
    expect(await store.getJob(overridden.id)).toMatchObject({ maxAttempts: 2, timeoutMs: 5000, priority: 10 });
    // A service this process does not load: the normal priority.
    const elsewhere = await jobs.add('elsewhere', 'run', null);
    expect(await store.getJob(elsewhere.id)).toMatchObject({ maxAttempts: 0, timeoutMs: null, priority: 0 });
  });

  it('refuses bad method defaults where the method is marked', () => {
    expect(() => outsideprocess({ maxAttempts: 0 })).toThrow('Expected `maxAttempts` to be an integer >= 1, got `0`');
  });

  it('refuses option keys it does not know, naming each, and stores nothing', async () => {
    const { store, jobs } = service();
    const first = await jobs.add('probe', 'echo', {});
    const unknownOptions = { afterr: [first], debounced: { seconds: 5 }, maxAttempt: 5 } as never;
    const expected = 'Unknown options "afterr" (did you mean "after"?), "debounced" (did you mean "debounce"?) and "maxAttempt" (did you mean "maxAttempts"?) in `options`; '
      + 'expected only maxAttempts, timeout, priority, key, tags, after, onParentFailure, concurrency, debounce and rateLimit';
    await expect(jobs.add('probe', 'echo', {}, unknownOptions)).rejects.toThrow(InvalidArgumentError);
    await expect(jobs.add('probe', 'echo', {}, unknownOptions)).rejects.toThrow(expected);
    await expect(jobs.addAsScheduled('probe', 'echo', {}, new Date(2_000_000), { timout: 3 } as never)).rejects.toThrow(
      'Unknown option "timout" (did you mean "timeout"?) in `options`; expected only maxAttempts, timeout, priority, key, tags, after, onParentFailure, concurrency, debounce and rateLimit',
    );
    // A key given as undefined is still a typo.
    await expect(jobs.add('probe', 'echo', {}, { prority: undefined } as never)).rejects.toThrow('Unknown option "prority" (did you mean "priority"?)');
    await expect(jobs.addMany([{ service: 'a', method: 'm' }, { service: 'a', method: 'm', options: { attempts: 2 } as never }])).rejects.toThrow(
      'Unknown option "attempts" (did you mean "maxAttempts"?) in `jobs[1].options`',
    );
    await expect(jobs.addMany([{ service: 'a', method: 'm' }, { service: 'a', method: 'm', parms: 1 } as never])).rejects.toThrow(
      'Unknown field "parms" (did you mean "params"?) in `jobs[1]`; expected only service, method, params, runAt and options',
    );
    await expect(jobs.addAsRecurring('s', 'm', null, 60, { key: 'k', misfier: 'skip' } as never)).rejects.toThrow(
      'Unknown options "key" and "misfier" (did you mean "misfire"?) in `options`; expected only maxAttempts, timeout, priority, name, tz and misfire',
    );
    expect(() => outsideprocess({ retries: 3, maxAttempts: 2 } as never)).toThrow(
      'Unknown option "retries" in `outsideprocess(options)`; expected only maxAttempts, timeout, priority and concurrency',
    );
    expect((await store.listJobs()).map((job) => job.id)).toEqual([first.id]);
    expect(await store.listRecurring()).toEqual([]);
  });

  it('takes handles, ids and earlier addMany entries in after, and refuses anything else, naming it, storing nothing', async () => {
    const { store, jobs } = service();
    const first = await jobs.add('a', 'm');
    const second = await jobs.add('a', 'm', null, { after: [first, first.id] });
    expect(await store.getJob(second.id)).toMatchObject({ after: [first.id], waitingFor: 1 });
    const [x, y] = await jobs.addMany([{ service: 'a', method: 'm' }, { service: 'a', method: 'm', options: { after: [{ entry: 0 }, second], onParentFailure: 'run' } }]);
    expect(await store.getJob(y!.id)).toMatchObject({ after: [x!.id, second.id], waitingFor: 2 });
    const before = (await store.listJobs()).length;
    await expect(jobs.add('a', 'm', null, { after: first as never })).rejects.toThrow('Expected `after` to be an array of job handles or ids, got object');
    await expect(jobs.add('a', 'm', null, { after: [0] })).rejects.toThrow('Expected `after[0]` to be a job handle, a job id (a positive integer) or { entry }, got `0`');
    await expect(jobs.add('a', 'm', null, { after: [{ entry: 0 }] })).rejects.toThrow('`{ entry }` names an entry of the same addMany call');
    await expect(jobs.addMany([{ service: 'a', method: 'm', options: { after: [{ entry: 0 }] } }])).rejects.toThrow('Expected `after[0].entry` to be the index of an earlier entry of this addMany call (this is the first entry: it has none before it), got `0`');
    await expect(jobs.add('a', 'm', null, { onParentFailure: 'run' })).rejects.toThrow('`onParentFailure` applies only to a job with `after`');
    await expect(jobs.add('a', 'm', null, { after: [first], onParentFailure: 'ignore' as never })).rejects.toThrow('Expected `onParentFailure` to be "cancel" or "run", got `ignore`');
    await expect(jobs.add('a', 'm', null, { after: [999] })).rejects.toThrow('after: no job with id 999');
    expect((await store.listJobs()).length).toBe(before);
  });

  it('takes concurrency { key, limit } from the options or the method, and refuses a bad one, naming the field', async () => {
    const services = serviceMap({ zone: { write: outsideprocess({ concurrency: { key: 'zone-a' } })(async () => 1) } });
    const store = tempStore();
    const jobs = new WorkerService(store, { services });
    const byMethod = await jobs.add('zone', 'write');
    const byOption = await jobs.add('zone', 'write', null, { concurrency: { key: 'zone-b', limit: 3 } });
    expect((await store.getJob(byMethod.id))?.concurrency).toEqual({ key: 'zone-a', limit: 1 });
    expect((await store.getJob(byOption.id))?.concurrency).toEqual({ key: 'zone-b', limit: 3 });
    await expect(jobs.add('a', 'm', null, { concurrency: { key: 7 } as never })).rejects.toThrow('Expected `concurrency.key` to be a non-empty string, got `7` (number)');
    await expect(jobs.add('a', 'm', null, { concurrency: { key: 'k', limit: 0 } })).rejects.toThrow('Expected `concurrency.limit` to be a positive integer, got `0`');
    await expect(jobs.add('a', 'm', null, { concurrency: { key: 'k', limimt: 2 } as never })).rejects.toThrow('Unknown field "limimt" (did you mean "limit"?) in `concurrency`');
    expect(() => outsideprocess({ concurrency: { key: '' } })).toThrow('Expected `concurrency.key` to be a non-empty string, got an empty string');
    expect((await store.listJobs()).length).toBe(2);
  });

  it('debounce: joins the waiting job, sets the run time from now, and refuses what conflicts with it', async () => {
    const { store, jobs } = service(1_000_000);
    const a = await jobs.add('m', 'x', 1, { debounce: { key: 'k', seconds: 2, maxSeconds: 5 } });
    const b = await jobs.add('m', 'x', 2, { debounce: { key: 'k', seconds: 2 } });
    expect(b.id).toBe(a.id);
    expect(await store.getJob(a.id)).toMatchObject({ runAt: 1_002_000 });
    await expect(jobs.add('m', 'x', 3, { debounce: { key: 'k', seconds: 0 } })).rejects.toThrow('Expected `debounce.seconds` to be a positive number, got `0`');
    await expect(jobs.add('m', 'x', 3, { debounce: { key: 'k', seconds: 2, maxSeconds: 1 } })).rejects.toThrow('Expected `debounce.maxSeconds` to be a number of seconds at least `debounce.seconds` (2), got `1`');
    await expect(jobs.add('m', 'x', 3, { key: 'u', debounce: { key: 'k', seconds: 2 } })).rejects.toThrow('`debounce` and a unique `key` both decide which job an add joins: give one');
    await expect(jobs.add('m', 'x', 3, { after: [a], debounce: { key: 'k', seconds: 2 } })).rejects.toThrow('`debounce` and `after` cannot go together');
    await expect(jobs.addAsScheduled('m', 'x', 3, new Date(2_000_000), { debounce: { key: 'k', seconds: 2 } })).rejects.toThrow('use add, not addAsScheduled');
    await expect(jobs.add('m', 'x', 3, { debounce: { key: 'k', second: 2 } as never })).rejects.toThrow('Unknown field "second" (did you mean "seconds"?) in `debounce`');
    expect(await store.getJob(a.id)).toMatchObject({ params: expect.stringContaining('2') });
    expect((await store.listJobs()).length).toBe(1);
  });

  it('setRateLimit and rateLimit: refuse bad names, limits and windows, naming them; a job under an unset name is refused', async () => {
    const { store, jobs } = service();
    await jobs.setRateLimit('api', { limit: 10, perSeconds: 1 });
    expect(await store.listRateLimits()).toEqual([{ name: 'api', limit: 10, perMs: 1000 }]);
    const job = await jobs.add('a', 'm', null, { rateLimit: 'api' });
    expect((await store.getJob(job.id))?.rateLimit).toBe('api');
    await expect(jobs.setRateLimit('', { limit: 1, perSeconds: 1 })).rejects.toThrow('Expected `name` to be a rate limit\'s name (a non-empty string), got an empty string');
    await expect(jobs.setRateLimit('x', { limit: 0, perSeconds: 1 })).rejects.toThrow('Expected `limit` to be a positive integer, got `0`');
    await expect(jobs.setRateLimit('x', { limit: 1, perSeconds: 0 })).rejects.toThrow('Expected `perSeconds` to be a positive number of seconds');
    await expect(jobs.setRateLimit('x', { limit: 1, per: 1 } as never)).rejects.toThrow('Unknown option "per" in `options`; expected only limit and perSeconds');
    await expect(jobs.add('a', 'm', null, { rateLimit: 'unset' })).rejects.toThrow('rateLimit: no rate limit named "unset"');
    await expect(jobs.add('a', 'm', null, { rateLimit: 5 as never })).rejects.toThrow('Expected `rateLimit` to be a rate limit\'s name (a non-empty string), got `5` (number)');
    expect((await store.listJobs()).length).toBe(1);
    expect(await store.listRateLimits()).toHaveLength(1);
  });

  it('refuses params that cannot be stored, before storing anything', async () => {
    const { store, jobs } = service();
    await expect(jobs.add('s', 'm', { user: { save() {} } })).rejects.toThrow(SerializationError);
    await expect(jobs.add('s', 'm', { user: { save() {} } })).rejects.toThrow('params.user.save is a function');
    expect(await store.listJobs()).toEqual([]);
  });

  it('addMany adds every job in one transaction, or none when one is refused', async () => {
    const { store, jobs } = service();
    const handles = await jobs.addMany([
      { service: 'a', method: 'm', params: 1 },
      { service: 'b', method: 'm', params: new Date(5), runAt: new Date(2_000_000), options: { priority: 'high' } },
      { service: 'c', method: 'm', options: { key: 'k' } },
      { service: 'c', method: 'm', options: { key: 'k' } },
    ]);
    expect(handles.map((h) => h.id)).toEqual([1, 2, 3, 3]);
    expect(await store.getJob(2)).toMatchObject({ runAt: 2_000_000, priority: 10 });
    await expect(jobs.addMany([{ service: 'a', method: 'm' }, { service: 'a', method: 'm', params: { f: () => 1 } }]))
      .rejects.toThrow('jobs[1].params.f is a function');
    await expect(jobs.addMany([{ service: 'a', method: 'm', runAt: new Date(Number.NaN) }])).rejects.toThrow('Expected `jobs[0].runAt` to be a valid Date');
    expect(await store.listJobs()).toHaveLength(3);
  });

  it('addMany refused after whole chunks were inserted keeps none of them, nor their new target', async () => {
    const { store, jobs } = service();
    await jobs.add('a', 'm');
    const batch = Array.from({ length: 250 }, (_, i): BulkJob => ({ service: 'fresh', method: 'run', params: i }));
    batch[249] = { service: 'fresh', method: 'run', params: { f: () => 1 } };
    await expect(jobs.addMany(batch)).rejects.toThrow('jobs[249].params.f is a function');
    const holes: BulkJob[] = [{ service: 'fresh', method: 'run' }];
    holes.length = 3;
    await expect(jobs.addMany(holes)).rejects.toThrow('Expected `jobs[1]` to be an object, got undefined');
    expect((await store.listJobs()).map((job) => job.service)).toEqual(['a']);
    // The target the rolled-back rows named is registered afresh, and the jobs that name it run it.
    const [first] = await jobs.addMany(batch.slice(0, 249));
    const claimed = await store.claim({ owner: 'w', limit: 300, now: Date.now() + 1, isolated: 'skip' });
    expect(claimed).toHaveLength(250);
    expect(claimed.find((job) => job.id === first!.id)).toMatchObject({ service: 'fresh', method: 'run', params: '{"json":0}' });
  });

  describe('addAsRecurring', () => {
    it('with seconds: first run at once, anchored to now', async () => {
      const { jobs } = service();
      const record = await jobs.addAsRecurring('rm', 'check', [1, 2, 3], 60);
      expect(record).toMatchObject({ everyMs: 60_000, cron: null, anchor: 1_000_000, nextRunAt: 1_000_000, name: '', misfire: 'once' });
    });

    it('with cron: first run at the next fire time in its zone', async () => {
      const { jobs } = service(Date.parse('2026-01-01T10:15:00Z'));
      const record = await jobs.addAsRecurring('rm', 'check', null, '0 12 * * *', { tz: 'Europe/Berlin' });
      expect(record).toMatchObject({ cron: '0 12 * * *', tz: 'Europe/Berlin', everyMs: null });
      expect(new Date(record.nextRunAt).toISOString()).toBe('2026-01-01T11:00:00.000Z');
    });

    it('replaces the job with the same signature instead of adding a copy', async () => {
      const { store, jobs } = service();
      const first = await jobs.addAsRecurring('rm', 'check', 'a', 60);
      const second = await jobs.addAsReccurring('rm', 'check', 'b', 60);
      const other = await jobs.addAsRecurring('rm', 'check', 'c', 60, { name: 'nightly' });
      expect(second.id).toBe(first.id);
      expect(other.id).not.toBe(first.id);
      expect((await store.listRecurring()).map((r) => [r.name, r.params])).toEqual([
        ['', '{"json":"b"}'],
        ['nightly', '{"json":"c"}'],
      ]);
    });

    it('keeps the next run when the same schedule is registered again at a later start-up', async () => {
      let now = 1_000_000;
      const store = tempStore();
      const jobs = new WorkerService(store, { clock: { now: () => now } });
      await jobs.addAsRecurring('rm', 'check', null, 60);
      now += 5000;
      const again = await jobs.addAsRecurring('rm', 'check', null, 60);
      expect(again.nextRunAt).toBe(1_000_000);
      now += 5000;
      const changed = await jobs.addAsRecurring('rm', 'check', null, 30);
      expect(changed).toMatchObject({ everyMs: 30_000, nextRunAt: now, anchor: now });
    });

    it('keeps a cron job\'s next run when processes in different zones register it, with no zone or with UTC', async () => {
      // An app and a worker both register the job in setup(); they cannot share a zone per instance, so the process zone changes between them.
      let now = Date.parse('2026-01-01T10:15:00Z');
      const store = tempStore();
      const app = new WorkerService(store, { clock: { now: () => now } });
      const worker = new WorkerService(store, { clock: { now: () => now } });
      const first = await inProcessZone('Pacific/Auckland', () => app.addAsRecurring('report', 'daily', null, '0 7 * * *'));
      expect(first).toMatchObject({ tz: 'UTC', nextRunAt: Date.parse('2026-01-02T07:00:00Z') });
      now += 60_000;
      expect(await inProcessZone('America/New_York', () => worker.addAsRecurring('report', 'daily', null, '0 7 * * *'))).toMatchObject({ tz: 'UTC', nextRunAt: first.nextRunAt });
      now += 60_000;
      expect(await app.addAsRecurring('report', 'daily', null, '0 7 * * *', { tz: 'UTC' })).toMatchObject({ tz: 'UTC', nextRunAt: first.nextRunAt });
      // A zone that is given is part of the schedule: changing it moves the next run.
      expect(await worker.addAsRecurring('report', 'daily', null, '0 7 * * *', { tz: 'Europe/Berlin' })).toMatchObject({ nextRunAt: Date.parse('2026-01-02T06:00:00Z') });
    });

    it.each([
      [0, undefined, 'Expected `every` to be a positive finite number of seconds or a cron expression, got `0` (number)'],
      ['every day', undefined, 'Expected `every` to be a valid cron expression, got `every day`'],
      ['0 * * * *', 'Europe/Atlantis', 'Expected `tz` to be an IANA time zone such as "Europe/Berlin", got `Europe/Atlantis` (unknown time zone)'],
    ])('refuses every=%s tz=%s', async (every, tz, message) => {
      const { jobs } = service();
      await expect(jobs.addAsRecurring('s', 'm', null, every, tz === undefined ? {} : { tz })).rejects.toThrow(message);
    });

    it('refuses an unknown misfire policy', async () => {
      const { jobs } = service();
      await expect(jobs.addAsRecurring('s', 'm', null, 60, { misfire: 'sometimes' as never })).rejects.toThrow(
        'Expected `misfire` to be one of once, skip, all, got `sometimes`',
      );
    });
  });
});
