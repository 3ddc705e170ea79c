import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, SerializationError } from '../../src/errors.ts';
import { JobFailedError, ResultTimeoutError, waitForAll, waitForAny } from '../../src/worker/job-handle.ts';
import type { JobContext } from '../../src/worker/job-context.ts';
import { JobCancelledError, NonRetryableError } from '../../src/worker/job-errors.ts';
import { outsideprocess } from '../../src/worker/outsideprocess.ts';
import { serviceMap } from '../../src/worker/resolve-target.ts';
import type { ProgressEvent } from '../../src/worker/result-watcher.ts';
import type { WorkerEventMap } from '../../src/worker/worker-events.ts';
import { Worker } from '../../src/worker/worker.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import { memoryLogger } from '../helpers/logger.ts';
import { tempStore } from '../helpers/store.ts';

function setup(services: Record<string, unknown>, options: { concurrency?: number; maxPayloadBytes?: number } = {}) {
  const store = tempStore({ checkIntervalMs: 50 });
  const jobs = new WorkerService(store, options.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: options.maxPayloadBytes });
  const { logger, lines } = memoryLogger();
  const worker = new Worker({
    store, services: serviceMap(services), logger, concurrency: options.concurrency ?? 4, events: jobs.events,
    ...(options.maxPayloadBytes === undefined ? {} : { maxResultBytes: options.maxPayloadBytes }),
  });
  return { store, jobs, worker, lines };
}

describe('results (handle.result)', () => {
  it('resolves with the return value, every supported type intact', async () => {
    const value = { at: new Date(7), big: 10n ** 20n, map: new Map([[1, new Set(['a'])]]), bytes: Buffer.from('b'), u8: new Uint8Array([1]), none: undefined };
    const { jobs, worker } = setup({ svc: { make: outsideprocess(async () => value) } });
    worker.start();
    const result = await (await jobs.add<typeof value>('svc', 'make', null)).result();
    await worker.stop();
    expect(result).toEqual(value);
    expect(Buffer.isBuffer(result.bytes)).toBe(true);
    expect(result.u8).toBeInstanceOf(Uint8Array);
  });

  it('stores nothing for a method that returns undefined, and tells it from one that returns null', async () => {
    const { store, jobs, worker } = setup({ svc: { nothing: outsideprocess(async () => undefined), nil: outsideprocess(async () => null) } });
    worker.start();
    const nothing = await jobs.add('svc', 'nothing', null);
    const nil = await jobs.add('svc', 'nil', null);
    expect(await nothing.result()).toBeUndefined();
    expect(await nil.result()).toBeNull();
    await worker.stop();
    expect(await store.getJob(nothing.id)).toMatchObject({ state: 'succeeded', result: null });
    expect(await store.getJob(nil.id)).toMatchObject({ state: 'succeeded', result: '{"json":null}' });
  });

  it('rejects with the job\'s final error, after its retries', async () => {
    const { jobs, worker } = setup({ svc: { bad: outsideprocess(async () => { throw new NonRetryableError('the input is wrong'); }) } });
    worker.start();
    const handle = await jobs.add('svc', 'bad', null);
    const error = await handle.result().catch((e: unknown) => e);
    await worker.stop();
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error).toMatchObject({ code: 'ERR_JOB_FAILED', jobId: handle.id, jobError: { name: 'NonRetryableError', message: 'the input is wrong' } });
    expect((error as JobFailedError).jobError.stack).toContain('the input is wrong');
  });

  it('rejects with JobCancelledError for a cancelled job', async () => {
    const { jobs } = setup({});
    const handle = await jobs.addAsScheduled('svc', 'later', null, new Date(Date.now() + 60_000));
    await jobs.cancel(handle.id);
    await expect(handle.result()).rejects.toBeInstanceOf(JobCancelledError);
  });

  it('times out without touching the job', async () => {
    const { store, jobs } = setup({});
    const handle = await jobs.add('svc', 'never', null);
    await expect(handle.result({ timeout: 0.05 })).rejects.toBeInstanceOf(ResultTimeoutError);
    expect((await store.getJob(handle.id))?.state).toBe('waiting');
    await expect(handle.result({ timeout: -1 })).rejects.toThrow('Expected `timeout` to be a number of seconds >= 0, got `-1`');
  });

  it('waits out a timeout longer than setTimeout can hold (30 days) instead of expiring at once', async () => {
    const { jobs } = setup({});
    const handle = await jobs.add('svc', 'never', null);
    const stop = new AbortController();
    const outcome = handle.result({ timeout: 30 * 24 * 3600, signal: stop.signal }).catch((e: unknown) => e);
    // An overflowing setTimeout fires after 1 ms: twenty are plenty to see it.
    await new Promise((resolve) => setTimeout(resolve, 20));
    stop.abort(new Error('stopped by the test'));
    const error = await outcome;
    expect(error).not.toBeInstanceOf(ResultTimeoutError);
    expect(error).toMatchObject({ message: 'stopped by the test' });
  });

  it('gives a handle back for an earlier job, from a fresh service on the same database', async () => {
    const { store, jobs, worker } = setup({ svc: { twice: outsideprocess(async (n: number) => n * 2) } });
    const { id } = await jobs.add('svc', 'twice', 21);
    const again = new WorkerService(store);
    const handle = await again.getJob<number>(id);
    worker.start();
    expect(await handle.result()).toBe(42);
    await worker.stop();
    await expect(again.getJob(999)).rejects.toThrow('no job with id 999');
  });

  it('answers thousands of waiters at once, with one store query per look', async () => {
    const { store, jobs, worker } = setup({ svc: { square: outsideprocess(async (n: number) => n * n) } }, { concurrency: 50 });
    const handles = await jobs.addMany<number>(Array.from({ length: 2000 }, (_, n) => ({ service: 'svc', method: 'square', params: n })));
    let looks = 0;
    const outcomes = store.outcomes.bind(store);
    store.outcomes = async (database, ids) => { looks += 1; return outcomes(database, ids); };
    // The caller's signal gets one listener however many handles wait: no "possible memory leak" warning.
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => { warnings.push(warning); };
    process.on('warning', onWarning);
    worker.start();
    const results = await waitForAll(handles, { signal: new AbortController().signal });
    await worker.stop();
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    process.off('warning', onWarning);
    expect(warnings.map((w) => w.message)).toEqual([]);
    expect(results).toEqual(Array.from({ length: 2000 }, (_, n) => n * n));
    // One query per look for all 2,000 waiters, not one per waiter.
    expect(looks).toBeGreaterThan(0);
    expect(looks).toBeLessThan(200);
  });

  it('waitForAll resolves with every value in order; waitForAny with the first to finish', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const { jobs, worker } = setup({
      svc: {
        slow: outsideprocess(async () => { await gate; return 'slow'; }),
        fast: outsideprocess(async (n: number) => n),
      },
    });
    worker.start();
    const slow = await jobs.add<string | number>('svc', 'slow', null);
    const fast = await jobs.add<string | number>('svc', 'fast', 1);
    expect(await waitForAny([slow, fast])).toBe(fast);
    release();
    expect(await waitForAll([slow, fast, await jobs.add<string | number>('svc', 'fast', 3)])).toEqual(['slow', 1, 3]);
    await worker.stop();
    await expect(waitForAny([])).rejects.toThrow(InvalidArgumentError);
  });
});

describe('waits over many handles', () => {
  it('stop at the timeout, naming a job, and at the caller\'s signal, with its reason', async () => {
    const { jobs } = setup({});
    const a = await jobs.add('svc', 'never', null);
    const b = await jobs.add('svc', 'never', null);
    const timedOut = await waitForAll([a, b], { timeout: 0.05 }).catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(ResultTimeoutError);
    expect((timedOut as Error).message).toContain(`job ${a.id} did not finish within 0.05 s`);
    const caller = new AbortController();
    const waiting = waitForAny([a, b], { signal: caller.signal });
    caller.abort(new Error('enough'));
    await expect(waiting).rejects.toThrow('enough');
    await expect(waitForAll([a, b], { signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already');
    await expect(a.result({ signal: AbortSignal.abort(new Error('before')) })).rejects.toThrow('before'); // waited forever before
    await expect(waitForAll([a], { timeout: Number.NaN })).rejects.toThrow('Expected `timeout` to be a number of seconds >= 0, got `NaN`');
  });

  it('waitForAll rejects with the first failure and stops waiting for the rest', async () => {
    const { store, jobs, worker } = setup({ svc: { bad: outsideprocess(async () => { throw new NonRetryableError('no'); }) } });
    worker.start();
    // Counts the store subscriptions made from here on: the result watcher's, held while anyone waits.
    let subscribed = 0;
    const onChange = store.onChange.bind(store);
    store.onChange = (listener) => {
      subscribed += 1;
      const off = onChange(listener);
      return () => { subscribed -= 1; off(); };
    };
    const never = await jobs.addAsScheduled('svc', 'bad', null, new Date(Date.now() + 60_000));
    const bad = await jobs.add('svc', 'bad', null);
    const waiting = waitForAll([never, bad]);
    expect(subscribed).toBe(1);
    await expect(waiting).rejects.toBeInstanceOf(JobFailedError);
    expect(subscribed).toBe(0);
    await worker.stop();
  });
});

describe('progress (ctx.progress, ctx.note, ctx.warn)', () => {
  it('reaches handle.onProgress and is stored with the job', async () => {
    let step!: () => void;
    const svc = {
      steps: outsideprocess(async (_p: unknown, ctx: JobContext) => {
        ctx.note('starting');
        for (let i = 1; i <= 3; i++) {
          await new Promise<void>((resolve) => { step = resolve; });
          ctx.progress(i, 3);
        }
        ctx.warn('almost out of disk');
        return 'done';
      }),
    };
    const { store, jobs, worker } = setup({ svc });
    const handle = await jobs.add('svc', 'steps', null);
    const events: ProgressEvent[] = [];
    handle.onProgress((event) => events.push(event));
    worker.start();
    for (let i = 1; i <= 3; i++) {
      await expect.poll(() => typeof step === 'function' && events.filter((e) => e.type === 'progress').length === i - 1).toBe(true);
      step();
      await expect.poll(() => events.filter((e) => e.type === 'progress').length).toBe(i);
    }
    expect(await handle.result()).toBe('done');
    await expect.poll(() => events.some((e) => e.type === 'warning')).toBe(true);
    await worker.stop();
    expect(events).toEqual([
      { type: 'note', message: 'starting', at: expect.any(Number) },
      { type: 'progress', current: 1, total: 3, at: expect.any(Number) },
      { type: 'progress', current: 2, total: 3, at: expect.any(Number) },
      { type: 'progress', current: 3, total: 3, at: expect.any(Number) },
      { type: 'warning', message: 'almost out of disk', at: expect.any(Number) },
    ]);
    expect((await store.getJob(handle.id))?.progress).toMatchObject({ current: 3, total: 3 });
    expect((await store.getJobNotes(handle.id)).map((n) => [n.level, n.message])).toEqual([['note', 'starting'], ['warning', 'almost out of disk']]);
  });

  it('works with its functions taken out of ctx, as a destructuring method does', async () => {
    const svc = {
      parts: outsideprocess(async (_p: unknown, { id, attempt, progress, note, signal }: JobContext) => {
        note(`job ${id}, attempt ${attempt}`);
        progress(1, 2);
        return signal.aborted;
      }),
    };
    const { store, jobs, worker } = setup({ svc });
    worker.start();
    const handle = await jobs.add('svc', 'parts', null);
    expect(await handle.result()).toBe(false);
    await worker.stop();
    expect((await store.getJob(handle.id))?.progress).toMatchObject({ current: 1, total: 2 });
    expect((await store.getJobNotes(handle.id)).map((n) => n.message)).toEqual([`job ${handle.id}, attempt 1`]);
  });

  it.each([
    [5, 0, 'Expected the progress denominator to be a positive finite number, got `0`'],
    [11, 10, 'Expected the progress numerator to be a number from 0 to 10, got `11`'],
    [-1, 10, 'Expected the progress numerator to be a number from 0 to 10, got `-1`'],
  ])('refuses progress(%s, %s)', async (current, total, message) => {
    const { jobs, worker } = setup({ svc: { report: outsideprocess(async (_p: unknown, ctx: JobContext) => ctx.progress(current, total)) } });
    worker.start();
    const error = await (await jobs.add('svc', 'report', null, { maxAttempts: 1 })).result().catch((e: unknown) => e);
    await worker.stop();
    expect((error as JobFailedError).jobError.message).toBe(message);
  });
});

describe('priorities', () => {
  it('claims higher priority first, then earlier run time, then the order of adding', async () => {
    const order: string[] = [];
    const { jobs, worker } = setup({ svc: { run: outsideprocess(async (name: string) => { order.push(name); }) } }, { concurrency: 1 });
    const past = new Date(Date.now() - 1000);
    await jobs.add('svc', 'run', 'low', { priority: 'low' });
    await jobs.add('svc', 'run', 'normal-1');
    await jobs.add('svc', 'run', 'high', { priority: 'high' });
    await jobs.add('svc', 'run', 'normal-2');
    await jobs.addAsScheduled('svc', 'run', 'normal-earlier', past);
    await jobs.add('svc', 'run', 'fifty', { priority: 50 });
    const last = await jobs.add('svc', 'run', 'minus-fifty', { priority: -50 });
    worker.start();
    await last.result();
    await worker.stop();
    expect(order).toEqual(['fifty', 'high', 'normal-earlier', 'normal-1', 'normal-2', 'low', 'minus-fifty']);
  });
});

describe('unique jobs (key)', () => {
  it('returns the waiting or running job with the same key; once it finished the key is free', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const { store, jobs, worker } = setup({ svc: { sync: outsideprocess(async () => { await gate; return 'synced'; }) } });
    const first = await jobs.add('svc', 'sync', { n: 1 }, { key: 'account-7' });
    const same = await jobs.add('svc', 'sync', { n: 2 }, { key: 'account-7' });
    const other = await jobs.add('svc', 'sync', null, { key: 'account-8' });
    expect(same.id).toBe(first.id);
    expect(other.id).not.toBe(first.id);
    worker.start();
    await expect.poll(async () => (await store.getJob(first.id))?.state).toBe('running');
    expect((await jobs.add('svc', 'sync', null, { key: 'account-7' })).id).toBe(first.id);
    release();
    // Gearman's coalescing: every caller's future resolves with the one result.
    expect(await Promise.all([first.result(), same.result()])).toEqual(['synced', 'synced']);
    const later = await jobs.add('svc', 'sync', null, { key: 'account-7' });
    expect(later.id).not.toBe(first.id);
    await worker.stop();
  });

  it('refuses keys that are not strings', async () => {
    const { jobs } = setup({});
    await expect(jobs.add('s', 'm', null, { key: 42 as never })).rejects.toThrow('Expected `key` to be a non-empty string, got `42` (number)');
    await expect(jobs.add('s', 'm', null, { key: '' })).rejects.toThrow('Expected `key` to be a non-empty string, got an empty string');
  });
});

describe('tags', () => {
  it('are stored and filter listings', async () => {
    const { store, jobs } = setup({});
    const a = await jobs.add('s', 'm', null, { tags: ['billing', 'eu'] });
    await jobs.add('s', 'm', null, { tags: ['us'] });
    expect((await store.getJob(a.id))?.tags).toEqual(['billing', 'eu']);
    expect((await store.listJobs({ tag: 'eu' })).map((j) => j.id)).toEqual([a.id]);
    await expect(jobs.add('s', 'm', null, { tags: ['ok', 3] as never })).rejects.toThrow('Expected `tags[1]` to be a non-empty string, got `3` (number)');
  });
});

describe('lifecycle events', () => {
  it('fires claimed, succeeded, retrying, failed, cancelled and idle; a throwing listener breaks nothing', async () => {
    let attempts = 0;
    const svc = {
      ok: outsideprocess(async () => 'ok'),
      flaky: outsideprocess(async () => { attempts += 1; throw new Error(`attempt ${attempts}`); }),
      long: outsideprocess(async (_p: unknown, ctx: JobContext) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))),
    };
    const { jobs, worker, lines } = setup({ svc });
    const seen: string[] = [];
    for (const name of ['claimed', 'succeeded', 'failed', 'retrying', 'cancelled', 'idle'] as const) {
      jobs.events.on(name, (payload: WorkerEventMap[typeof name]) => {
        seen.push('job' in payload ? `${name}:${payload.job.method}` : name);
      });
    }
    jobs.events.on('succeeded', () => { throw new Error('a broken metrics exporter'); });
    worker.start();
    await expect.poll(() => seen).toContain('idle');
    await (await jobs.add('svc', 'ok', null)).result();
    await (await jobs.add('svc', 'flaky', null, { maxAttempts: 1 })).result().catch(() => {});
    const long = await jobs.add('svc', 'long', null);
    await expect.poll(() => seen).toContain('claimed:long');
    await jobs.cancel(long.id);
    await long.result().catch(() => {});
    await expect.poll(() => seen).toContain('cancelled:long');
    await worker.stop();
    expect(seen).toEqual(expect.arrayContaining(['claimed:ok', 'succeeded:ok', 'claimed:flaky', 'failed:flaky']));
    expect(lines().some((l) => l.msg === 'a worker event listener threw; the worker goes on')).toBe(true);
  });

  it('fires retrying for an attempt that will be retried', async () => {
    const { jobs, worker } = setup({ svc: { flaky: outsideprocess(async () => { throw new Error('again'); }) } });
    const retries: number[] = [];
    jobs.events.on('retrying', ({ job, retryAt }) => retries.push(job.attempt, retryAt));
    worker.start();
    await jobs.add('svc', 'flaky', null, { maxAttempts: 2 });
    await expect.poll(() => retries.length).toBe(2);
    await worker.stop(0);
    expect(retries[0]).toBe(1);
    expect(retries[1]).toBeGreaterThan(Date.now());
  });
});

describe('payload size', () => {
  it('refuses params and results over the limit, naming which', async () => {
    const { jobs, worker } = setup({ svc: { big: outsideprocess(async () => 'x'.repeat(2000)) } }, { maxPayloadBytes: 1000 });
    await expect(jobs.add('svc', 'big', 'y'.repeat(2000))).rejects.toThrow(SerializationError);
    await expect(jobs.add('svc', 'big', 'y'.repeat(2000))).rejects.toThrow(/^params is 20\d\d bytes when stored; the limit is 1000/);
    worker.start();
    const error = await (await jobs.add('svc', 'big', null)).result().catch((e: unknown) => e);
    await worker.stop();
    expect((error as JobFailedError).jobError.message).toMatch(/^result is 20\d\d bytes when stored; the limit is 1000/);
  });
});
