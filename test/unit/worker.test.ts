import { spawnSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ownerName } from '../../src/worker/owner-identity.ts';
import { NonRetryableError } from '../../src/worker/job-errors.ts';
import { outsideprocess } from '../../src/worker/outsideprocess.ts';
import { Worker } from '../../src/worker/worker.ts';
import { serviceMap } from '../../src/worker/resolve-target.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import type { JobContext } from '../../src/worker/job-context.ts';
import type { JobRecord } from '../../src/store/job-store.ts';
import { IntervalStats } from '../../src/worker/interval-stats.ts';
import { createLogger } from '../../src/log/logger.ts';
import { memoryLogger, topLevelKeys } from '../helpers/logger.ts';
import { tempStore } from '../helpers/store.ts';

/** Starts a worker on a temp store; the test stops it. */
function setup(services: Record<string, unknown>, options: { concurrency?: number; now?: () => number } = {}) {
  const store = tempStore({ checkIntervalMs: 50 });
  const clock = options.now === undefined ? undefined : { now: options.now };
  const jobs = new WorkerService(store, clock === undefined ? {} : { clock });
  const { logger, lines } = memoryLogger();
  const worker = new Worker({
    store, services: serviceMap(services), logger, concurrency: options.concurrency ?? 4, random: () => 0.5,
    ...(clock === undefined ? {} : { clock }),
  });
  return { store, jobs, worker, lines };
}

async function settled(store: ReturnType<typeof tempStore>, id: number): Promise<JobRecord> {
  await expect.poll(async () => (await store.getJob(id))?.state, { timeout: 5000 }).toMatch(/succeeded|failed|cancelled/);
  return (await store.getJob(id))!;
}

describe('Worker', () => {
  it('calls the marked method with the deserialized params and a context, and records the result', async () => {
    const seen: { params: unknown; ctx: Partial<JobContext> }[] = [];
    const mailer = {
      send: outsideprocess(async (params: unknown, ctx: JobContext) => {
        seen.push({ params, ctx: { id: ctx.id, attempt: ctx.attempt, service: ctx.service, method: ctx.method } });
        expect(ctx.signal).toBeInstanceOf(AbortSignal);
        ctx.log.info('sending');
        return { sentAt: new Date(0), count: 2n };
      }),
    };
    const { store, jobs, worker, lines } = setup({ mailer });
    const { id } = await jobs.add('mailer', 'send', { to: 'ada', when: new Date(5) });
    worker.start();
    const job = await settled(store, id);
    await worker.stop();
    expect(job.state).toBe('succeeded');
    expect(seen).toEqual([{ params: { to: 'ada', when: new Date(5) }, ctx: { id, attempt: 1, service: 'mailer', method: 'send' } }]);
    expect(job.result).toContain('"count":"2"');
    const line = lines().find((l) => l.msg === 'sending');
    expect(line).toMatchObject({ jobId: id, service: 'mailer', method: 'send' });
  });

  it('calls decorated class methods bound to their service', async () => {
    class Counter {
      total = 0;
      @outsideprocess
      async add(params: { n: number }): Promise<number> {
        this.total += params.n;
        return this.total;
      }
    }
    const counter = new Counter();
    const { store, jobs, worker } = setup({ counter });
    const { id } = await jobs.add('counter', 'add', { n: 5 });
    worker.start();
    expect((await settled(store, id)).result).toBe('{"json":5}');
    await worker.stop();
    expect(counter.total).toBe(5);
  });

  it.each([
    ['nope', 'run', 'unknown service "nope"'],
    ['svc', 'missing', 'service "svc" has no method "missing"'],
    ['svc', 'unmarked', 'svc.unmarked is not marked with outsideprocess'],
    ['svc', '__proto__', '"__proto__" cannot be a job method'],
    ['svc', 'constructor', '"constructor" cannot be a job method'],
    ['svc', 'toString', 'service "svc" has no method "toString"'],
    ['svc', 'getter', 'service "svc" has no method "getter"'],
  ])('fails a job for %s.%s at once, and keeps going', async (service, method, message) => {
    let getterRan = false;
    const svc = {
      run: outsideprocess(async () => 'ok'),
      unmarked: async () => 'should not run',
      get getter() {
        getterRan = true;
        return outsideprocess(async () => 'no');
      },
    };
    const { store, jobs, worker, lines } = setup({ svc });
    const bad = await jobs.add(service, method, null);
    const good = await jobs.add('svc', 'run', null);
    worker.start();
    const failed = await settled(store, bad.id);
    expect(failed).toMatchObject({ state: 'failed', attempts: 1, error: { name: 'JobTargetError' } });
    expect(failed.error?.message).toContain(message);
    expect((await settled(store, good.id)).state).toBe('succeeded');
    await worker.stop();
    expect(getterRan).toBe(false);
    expect(lines().find((l) => l.jobId === bad.id && l.msg === 'job failed')).toHaveProperty('err.stack');
  });

  it('runs async jobs concurrently: a slow job does not hold up the others', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const svc = {
      slow: outsideprocess(async () => { await gate; return 'slow'; }),
      fast: outsideprocess(async () => 'fast'),
    };
    const { store, jobs, worker } = setup({ svc }, { concurrency: 2 });
    const slow = await jobs.add('svc', 'slow', null);
    const fast = [];
    for (let i = 0; i < 5; i++) fast.push(await jobs.add('svc', 'fast', null));
    worker.start();
    for (const { id } of fast) expect((await settled(store, id)).state).toBe('succeeded');
    expect((await store.getJob(slow.id))?.state).toBe('running');
    release();
    expect((await settled(store, slow.id)).state).toBe('succeeded');
    await worker.stop();
  });

  it('retries a failed attempt with exponential backoff, then fails with every attempt counted', async () => {
    let now = 1_000_000;
    const svc = { flaky: outsideprocess(async () => { throw new Error('flaky failure'); }) };
    const { store, jobs, worker } = setup({ svc }, { now: () => now });
    const { id } = await jobs.add('svc', 'flaky', null, { maxAttempts: 3 });
    worker.start();
    // Attempt 1 fails; with jitter fixed at the middle, the retry is due 1 s later.
    await expect.poll(async () => (await store.getJob(id))?.attempts).toBe(1);
    await expect.poll(async () => (await store.getJob(id))?.state).toBe('waiting');
    expect((await store.getJob(id))?.runAt).toBe(now + 1000);
    now += 1000;
    await jobs.addAsScheduled('svc', 'other', null, new Date(now + 10 ** 9)); // any write wakes the worker to re-read the clock
    await expect.poll(async () => (await store.getJob(id))?.attempts).toBe(2);
    await expect.poll(async () => (await store.getJob(id))?.state).toBe('waiting');
    expect((await store.getJob(id))?.runAt).toBe(now + 2000);
    now += 2000;
    await jobs.addAsScheduled('svc', 'other', null, new Date(now + 10 ** 9));
    const job = await settled(store, id);
    await worker.stop();
    expect(job).toMatchObject({ state: 'failed', attempts: 3, error: { message: 'flaky failure' } });
    expect(job.error?.stack).toContain('flaky failure');
  });

  it('does not retry a NonRetryableError', async () => {
    const svc = { fatal: outsideprocess(async () => { throw new NonRetryableError('bad input, retrying will not help'); }) };
    const { store, jobs, worker } = setup({ svc });
    const { id } = await jobs.add('svc', 'fatal', null, { maxAttempts: 5 });
    worker.start();
    expect(await settled(store, id)).toMatchObject({ state: 'failed', attempts: 1, error: { name: 'NonRetryableError' } });
    await worker.stop();
  });

  it('fails a job whose result cannot be stored, naming where', async () => {
    const svc = { leaky: outsideprocess(async () => ({ callback: () => 1 })) };
    const { store, jobs, worker } = setup({ svc });
    const { id } = await jobs.add('svc', 'leaky', null);
    worker.start();
    const job = await settled(store, id);
    await worker.stop();
    expect(job).toMatchObject({ state: 'failed', attempts: 1, error: { message: 'result.callback is a function; params and results must be data' } });
  });

  it('re-checks the wall clock at least every maxSleepMs: a clock that jumps ahead is noticed without any other wake-up', async () => {
    let now = 1_000_000;
    const ran: number[] = [];
    const store = tempStore({ checkIntervalMs: 60_000 });
    const jobs = new WorkerService(store, { clock: { now: () => now } });
    const svc = { later: outsideprocess(async () => { ran.push(now); }) };
    const { id } = await jobs.addAsScheduled('svc', 'later', null, new Date(now + 3_600_000));
    const worker = new Worker({ store, services: serviceMap({ svc }), logger: memoryLogger().logger, clock: { now: () => now }, maxSleepMs: 30 });
    worker.start();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(ran).toEqual([]);
    now += 3_600_000; // a suspended machine wakes up, or the clock is set forward
    await expect.poll(async () => (await store.getJob(id))?.state, { timeout: 2000, interval: 10 }).toBe('succeeded');
    await worker.stop();
    expect(ran).toEqual([now]);
  });

  it('never starts a scheduled job before its time', async () => {
    const started: number[] = [];
    const svc = { at: outsideprocess(async () => { started.push(Date.now()); }) };
    const { store, jobs, worker } = setup({ svc });
    const runAt = new Date(Date.now() + 150);
    const { id } = await jobs.addAsScheduled('svc', 'at', null, runAt);
    worker.start();
    await settled(store, id);
    await worker.stop();
    expect(started[0]).toBeGreaterThanOrEqual(runAt.getTime());
  });

  it('runs a recurring job on its schedule, each occurrence once', async () => {
    const fired: number[] = [];
    const svc = { tick: outsideprocess(async (_p: unknown, ctx: JobContext) => { fired.push(ctx.id); }) };
    const { store, jobs, worker } = setup({ svc });
    const record = await jobs.addAsRecurring('svc', 'tick', null, 0.05);
    worker.start();
    await expect.poll(() => fired.length, { timeout: 5000 }).toBeGreaterThanOrEqual(4);
    await worker.stop();
    const runs = (await store.listJobs()).filter((j) => j.recurringId === record.id).sort((a, b) => a.fireTime! - b.fireTime!);
    const fireTimes = runs.map((j) => j.fireTime! - record.anchor);
    // Anchored to the start: every fire time is a whole number of intervals from it.
    expect(fireTimes.every((t) => t % 50 === 0)).toBe(true);
    expect(new Set(fireTimes).size).toBe(fireTimes.length);
    expect(fireTimes[0]).toBe(0);
  });

  it('looks at recurring jobs again when one is added while a look is under way, not only at the next backstop', async () => {
    let ticks = 0;
    const { store, jobs, worker } = setup({ svc: { tick: outsideprocess(async () => { ticks += 1; }) } });
    // The worker's first look reads "no recurring jobs" and is held until a recurring job has been added meanwhile.
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    let looks = 0;
    let staleNext: number | null | undefined;
    const dueRecurring = store.dueRecurring.bind(store);
    const nextRecurringAt = store.nextRecurringAt.bind(store);
    store.dueRecurring = async (now) => {
      const due = await dueRecurring(now);
      if (++looks === 1) {
        staleNext = await nextRecurringAt(); // read before the add below: nothing
        await held;
      }
      return due;
    };
    store.nextRecurringAt = async () => {
      // The held look ends with what it read before the add.
      if (staleNext === undefined) return nextRecurringAt();
      const next = staleNext;
      staleNext = undefined;
      return next;
    };
    worker.start();
    await expect.poll(() => looks).toBe(1);
    await expect.poll(() => staleNext).toBeNull();
    await jobs.addAsRecurring('svc', 'tick', null, 3600);
    await new Promise((resolve) => setImmediate(resolve)); // the change is told on the next turn
    release();
    await expect.poll(() => ticks, { timeout: 3000 }).toBe(1);
    await worker.stop();
  });

  it('on stop, lets running jobs finish within the grace period', async () => {
    let finished = false;
    const svc = { work: outsideprocess(async () => { await new Promise((r) => setTimeout(r, 100)); finished = true; return 'done'; }) };
    const { store, jobs, worker } = setup({ svc });
    const { id } = await jobs.add('svc', 'work', null);
    worker.start();
    await expect.poll(async () => (await store.getJob(id))?.state).toBe('running');
    await worker.stop(5000);
    expect(finished).toBe(true);
    expect((await store.getJob(id))?.state).toBe('succeeded');
  });

  it('past the grace period, aborts running jobs and gives them back unfinished', async () => {
    let aborted = false;
    const svc = {
      hang: outsideprocess(async (_p: unknown, ctx: JobContext) => {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => { aborted = true; resolve(); }));
      }),
    };
    const { store, jobs, worker } = setup({ svc });
    const { id } = await jobs.add('svc', 'hang', null);
    worker.start();
    await expect.poll(async () => (await store.getJob(id))?.state).toBe('running');
    const owners = new Database(store.path, { readonly: true }).prepare<[string], number>('SELECT count(*) FROM owners WHERE name = ?').pluck();
    expect(owners.get(worker.owner)).toBe(1);
    await worker.stop(50);
    expect(aborted).toBe(true);
    expect(await store.getJob(id)).toMatchObject({ state: 'waiting', attempts: 0, leaseOwner: null });
    // A stopped worker claims no more: the store forgets its lease owner.
    expect(owners.get(worker.owner)).toBe(0);
    owners.database.close();
  });

  it('takes back at once the jobs of a dead worker process on this host', async () => {
    const svc = { work: outsideprocess(async () => 'redone') };
    const { store, jobs, worker } = setup({ svc });
    const { id } = await jobs.add('svc', 'work', null);
    // A worker on this host whose process has exited claimed the job and died.
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    const owner = ownerName('deadbeef', Number(dead.stdout.trim()));
    await store.claim({ owner, limit: 1, now: Date.now(), isolated: 'skip' });
    worker.start();
    const job = await settled(store, id);
    await worker.stop();
    expect(job).toMatchObject({ state: 'succeeded', attempts: 2 });
    expect(await store.getJobErrors(id)).toEqual([expect.objectContaining({ attempt: 1, name: 'WorkerLostError' })]);
  });

  it('aborts a running job that is cancelled; it ends cancelled', async () => {
    let sawAbort = false;
    const svc = {
      long: outsideprocess(async (_p: unknown, ctx: JobContext) => {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => { sawAbort = true; resolve(); }));
      }),
    };
    const { store, jobs, worker } = setup({ svc });
    const { id } = await jobs.add('svc', 'long', null);
    worker.start();
    await expect.poll(async () => (await store.getJob(id))?.state).toBe('running');
    expect(await jobs.cancel(id)).toBe('requested');
    expect(await settled(store, id)).toMatchObject({ state: 'cancelled', error: { name: 'JobCancelledError' } });
    await worker.stop();
    expect(sawAbort).toBe(true);
  });

  it('prunes finished jobs past their retention', async () => {
    const svc = { quick: outsideprocess(async () => 'ok') };
    const store = tempStore({ checkIntervalMs: 50 });
    const jobs = new WorkerService(store);
    const { id } = await jobs.add('svc', 'quick', null);
    const first = new Worker({ store, services: serviceMap({ svc }), logger: memoryLogger().logger });
    first.start();
    await settled(store, id);
    await first.stop();
    await jobs.addAsScheduled('svc', 'quick', null, new Date(Date.now() + 3_600_000)); // the newest job is never pruned
    const pruning = new Worker({ store, services: serviceMap({ svc }), logger: memoryLogger().logger, retention: { succeededMs: 0, failedMs: null }, clock: { now: () => Date.now() + 1 } });
    pruning.start();
    await expect.poll(async () => store.getJob(id)).toBeUndefined();
    await pruning.stop();
  });

  it('fires the signal and fails the attempt at its timeout', async () => {
    let signalled = false;
    const svc = {
      slow: outsideprocess(async (_p: unknown, ctx: JobContext) => {
        ctx.signal.addEventListener('abort', () => { signalled = true; });
        await new Promise((r) => setTimeout(r, 2000));
      }),
    };
    const { store, jobs, worker } = setup({ svc });
    const { id } = await jobs.add('svc', 'slow', null, { timeout: 0.05, maxAttempts: 1 });
    worker.start();
    const job = await settled(store, id);
    await worker.stop(0);
    expect(signalled).toBe(true);
    expect(job).toMatchObject({ state: 'failed', error: { name: 'JobTimeoutError' } });
  });
});

describe('Worker: the periodic stats line', () => {
  const statsLines = (lines: Record<string, unknown>[]) => lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('jobs in the last'));

  it('logs at info, per interval, what it recorded: outcomes by kind and run-time percentiles', async () => {
    const svc = {
      quick: outsideprocess(async () => 'ok'),
      slow: outsideprocess(async () => { await new Promise((resolve) => setTimeout(resolve, 60)); }),
      flaky: outsideprocess(async () => { throw new Error('try again'); }),
      fatal: outsideprocess(async () => { throw new NonRetryableError('no'); }),
      waits: outsideprocess(async (_: unknown, ctx: JobContext) => {
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        throw ctx.signal.reason;
      }),
    };
    const store = tempStore({ checkIntervalMs: 50 });
    const jobs = new WorkerService(store);
    const { logger, lines } = memoryLogger('info');
    const worker = new Worker({ store, services: serviceMap({ svc }), logger, statsIntervalMs: 200, random: () => 0.5 });
    worker.start();
    const added = await Promise.all([
      jobs.add('svc', 'quick', null), jobs.add('svc', 'quick', null), jobs.add('svc', 'slow', null),
      jobs.add('svc', 'flaky', null, { maxAttempts: 2 }), jobs.add('svc', 'fatal', null), jobs.add('svc', 'waits', null),
    ]);
    const waits = added[5]!.id;
    await expect.poll(async () => (await store.getJob(waits))?.state).toBe('running');
    await jobs.cancel(waits);
    await settled(store, waits);
    // The flaky job's attempt was recorded for a retry a second away: what follows is the next interval's.
    await expect.poll(async () => (await store.getJob(added[3]!.id))?.attempts).toBe(1);
    await expect.poll(() => statsLines(lines()).reduce((n, l) => n + (l.succeeded as number) + (l.failed as number) + (l.retried as number) + (l.cancelled as number), 0), { timeout: 3000 }).toBe(6);
    await worker.stop(0);
    const logged = statsLines(lines());
    const sum = (key: string): number => logged.reduce((n, l) => n + (l[key] as number), 0);
    expect({ succeeded: sum('succeeded'), failed: sum('failed'), retried: sum('retried'), cancelled: sum('cancelled') }).toEqual({ succeeded: 3, failed: 1, retried: 1, cancelled: 1 });
    for (const line of logged) {
      expect(line.level).toBe(30);
      expect(line.intervalSeconds).toBeGreaterThan(0);
    }
    // The slow job ran 60 ms or more: it is the slowest of six, so the 99th percentile is its time (within the
    // histogram's 5%). No upper bound: on a loaded machine a 60 ms timer fires late.
    const withSlow = logged.find((l) => (l.p99Ms as number) >= 55)!;
    expect(withSlow.p50Ms as number).toBeLessThanOrEqual(withSlow.p99Ms as number);
    expect(withSlow.msg).toMatch(/^jobs in the last \d+(\.\d)? s: \d+ succeeded, \d+ failed, \d+ retried, \d+ cancelled; run time p50 [\d.]+ ms, p99 [\d.]+ ms; \d+ running$/);
    // Per-job lines stay below info.
    expect(lines().filter((l) => l.msg === 'job succeeded' || l.msg === 'job started')).toEqual([]);
  });

  it('logs nothing while idle', async () => {
    const store = tempStore({ checkIntervalMs: 50 });
    const { logger, lines } = memoryLogger('info');
    const worker = new Worker({ store, services: serviceMap({}), logger, statsIntervalMs: 20 });
    worker.start();
    await new Promise((resolve) => setTimeout(resolve, 200)); // ten intervals
    await worker.stop(0);
    expect(statsLines(lines())).toEqual([]);
    expect(lines().map((l) => l.msg)).toContain('worker stopped');
  });
});

describe('IntervalStats', () => {
  it('reads percentiles back within the histogram\'s 5% buckets, and resets', () => {
    const stats = new IntervalStats();
    expect(stats.percentile(50)).toBeNull();
    for (let ms = 1; ms <= 1000; ms++) stats.time(ms);
    expect(stats.percentile(50)! / 500).toBeCloseTo(1, 1);
    expect(stats.percentile(99)! / 990).toBeCloseTo(1, 1);
    expect(stats.percentile(100)! / 1000).toBeCloseTo(1, 1);
    stats.time(0);
    stats.time(Number.NaN);
    stats.reset();
    expect(stats.percentile(99)).toBeNull();
  });
});

describe('log lines of a job', () => {
  it('carry each key once, even when the method logs a field its logger is bound to', async () => {
    const written: string[] = [];
    const logger = createLogger({ level: 'debug', pretty: false, destination: { write: (line: string) => { written.push(line); } } });
    // As the example plugin's tick did: jobId again, next to the job logger's own binding.
    const svc = {
      tick: outsideprocess(async (_: unknown, ctx: JobContext) => { ctx.log.info({ jobId: ctx.id, service: ctx.service, attempt: ctx.attempt }, 'tick'); }),
      boom: outsideprocess(async () => { throw new NonRetryableError('boom'); }),
    };
    const store = tempStore({ checkIntervalMs: 50 });
    const jobs = new WorkerService(store);
    const worker = new Worker({ store, services: serviceMap({ svc }), logger });
    const tick = await jobs.add('svc', 'tick', null);
    const boom = await jobs.add('svc', 'boom', null);
    worker.start();
    await settled(store, tick.id);
    await settled(store, boom.id);
    await worker.stop(0);
    const lines = written.join('').split('\n').filter((line) => line !== '');
    const tickLine = lines.find((line) => (JSON.parse(line) as { msg?: string }).msg === 'tick')!;
    expect(topLevelKeys(tickLine).filter((key) => key === 'jobId')).toHaveLength(1);
    expect(JSON.parse(tickLine)).toMatchObject({ jobId: tick.id, service: 'svc', method: 'tick', attempt: 1 });
    expect(lines.filter((line) => (JSON.parse(line) as { jobId?: number }).jobId !== undefined).length).toBeGreaterThanOrEqual(3);
    for (const line of lines) {
      const keys = topLevelKeys(line);
      expect(keys, line).toEqual([...new Set(keys)]);
    }
  });

  it('topLevelKeys sees a repeated key that JSON.parse hides', () => {
    expect(topLevelKeys('{"a":1,"b":{"a":[1,{"c":"x\\"y,"}]},"a":"}"}')).toEqual(['a', 'b', 'a']);
  });
});
