import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/schedule/clock.ts';
import type { JobRecord } from '../../src/store/job-store.ts';
import { JobTimeoutError } from '../../src/worker/job-errors.ts';
import type { JobContext } from '../../src/worker/job-context.ts';
import { isOwnerDead, ownerName, parseOwnerName, pidScope } from '../../src/worker/owner-identity.ts';
import { outsideprocess } from '../../src/worker/outsideprocess.ts';
import { serviceMap } from '../../src/worker/resolve-target.ts';
import { Supervisor } from '../../src/worker/supervisor.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import { Worker } from '../../src/worker/worker.ts';
import { memoryLogger } from '../helpers/logger.ts';
import { tempStore } from '../helpers/store.ts';

/** A clock whose wall time a test can step, and whose monotonic time runs on as the real one does. */
function steppableClock(): Clock & { step(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    monotonic: () => performance.now(),
    step: (ms) => { offset += ms; },
  };
}

async function settled(store: ReturnType<typeof tempStore>, id: number, timeout = 5000): Promise<JobRecord> {
  await expect.poll(async () => (await store.getJob(id))?.state, { timeout }).toMatch(/succeeded|failed|cancelled/);
  return (await store.getJob(id))!;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('leases', () => {
  it('a wall-clock step takes no live worker\'s jobs: liveness is judged by heart-beats on a monotonic clock', async () => {
    const store = tempStore({ checkIntervalMs: 50 });
    const jobs = new WorkerService(store);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const svc = { wait: outsideprocess(async () => { await gate; return 'done'; }) };
    const clock = steppableClock();
    const { logger, lines } = memoryLogger();
    const options = { store, services: serviceMap({ svc }), logger, leaseMs: 300, livenessIntervalMs: 20, clock };
    const runner = new Worker(options);
    const { id } = await jobs.add('svc', 'wait', null, { maxAttempts: 1 });
    runner.start();
    await expect.poll(async () => (await store.getJob(id))?.state).toBe('running');
    const watcher = new Worker({ ...options, concurrency: 1 });
    watcher.start();
    clock.step(3_600_000); // NTP, a resumed VM, `date -s`: an hour forward, on both workers' wall clocks
    await sleep(900); // three leases' worth of real time
    expect(await store.getJob(id)).toMatchObject({ state: 'running', attempts: 1, leaseOwner: runner.owner });
    release();
    expect(await settled(store, id)).toMatchObject({ state: 'succeeded', attempts: 1 });
    await Promise.all([runner.stop(), watcher.stop()]);
    expect(lines().filter((l) => String(l.msg).startsWith('took back'))).toEqual([]);
  });

  it('takes back the jobs of a worker whose beat stands still for a lease, and that worker aborts them at its next beat', async () => {
    const store = tempStore({ checkIntervalMs: 50 });
    const jobs = new WorkerService(store);
    let signalled: unknown;
    let runs = 0;
    const svc = {
      wait: outsideprocess(async (_: unknown, ctx: JobContext) => {
        runs += 1;
        if (runs > 1) return 'second run';
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        signalled = ctx.signal.reason;
        return 'first run, aborted';
      }),
    };
    const { logger } = memoryLogger();
    // It beats every 300 ms; the other worker below, configured with leases of 200 ms, judges it dead between two beats.
    const stalled = new Worker({ store, services: serviceMap({ svc }), logger, leaseMs: 900 });
    const { id } = await jobs.add('svc', 'wait', null, { maxAttempts: 2 });
    stalled.start();
    await expect.poll(async () => (await store.getJob(id))?.state).toBe('running');
    const other = new Worker({ store, services: serviceMap({ svc }), logger, leaseMs: 200, livenessIntervalMs: 20 });
    other.start();
    expect(await settled(store, id)).toMatchObject({ state: 'succeeded', attempts: 2, result: '{"json":"second run"}' });
    await other.stop();
    // The stalled worker learns at its next heartbeat that the job is not its any more: its signal fires.
    await expect.poll(() => signalled, { timeout: 2000 }).toMatchObject({ code: 'ERR_LEASE_LOST' });
    await stalled.stop();
    expect(await store.getJob(id)).toMatchObject({ state: 'succeeded', result: '{"json":"second run"}' });
  });

  it('keeps a timed-out attempt leased until its method returns, and only then lets its retry start', async () => {
    const store = tempStore({ checkIntervalMs: 50 });
    const jobs = new WorkerService(store);
    const spans: [number, number][] = [];
    const svc = {
      stubborn: outsideprocess(async (_: unknown, ctx: JobContext) => {
        const start = performance.now();
        await sleep(ctx.attempt === 1 ? 300 : 10); // ignores its signal
        spans.push([start, performance.now()]);
      }),
    };
    const worker = new Worker({ store, services: serviceMap({ svc }), logger: memoryLogger().logger, concurrency: 4, lingerMs: 60_000, backoff: { baseMs: 1 } });
    worker.start();
    const { id } = await jobs.add('svc', 'stubborn', null, { timeout: 0.05, maxAttempts: 2 });
    await expect.poll(() => spans.length, { timeout: 5000 }).toBe(2);
    expect(spans[1]![0]).toBeGreaterThanOrEqual(spans[0]![1]);
    const errors = await store.getJobErrors(id);
    expect(errors[0]).toMatchObject({ attempt: 1, name: 'JobTimeoutError' });
    await worker.stop();
  });

  it('applies a method\'s outsideprocess defaults to a job added where the method is not loaded, and records them', async () => {
    const store = tempStore();
    const jobs = new WorkerService(store); // as the `jobs` command: no plugins, so no method defaults
    let runs = 0;
    const svc = { stuck: outsideprocess({ timeout: 0.05, maxAttempts: 2 })(async () => { runs += 1; await sleep(200); }) };
    const worker = new Worker({ store, services: serviceMap({ svc }), logger: memoryLogger().logger, lingerMs: 60_000, backoff: { baseMs: 1 } });
    const { id } = await jobs.add('svc', 'stuck', null);
    const given = await jobs.add('svc', 'stuck', null, { maxAttempts: 1, timeout: 0.03 });
    expect(await store.getJob(id)).toMatchObject({ maxAttempts: 0, timeoutMs: null });
    worker.start();
    expect(await settled(store, id)).toMatchObject({ state: 'failed', attempts: 2, maxAttempts: 2, timeoutMs: 50, error: { name: 'JobTimeoutError' } });
    expect(await settled(store, given.id)).toMatchObject({ state: 'failed', attempts: 1, maxAttempts: 1, timeoutMs: 30 });
    expect(runs).toBe(3);
    await worker.stop();
  });

  it('records a method\'s defaults with the claim once it knows them: only its first batch writes them apart', async () => {
    const store = tempStore();
    const jobs = new WorkerService(store);
    const svc = { quick: outsideprocess({ timeout: 5, maxAttempts: 4 })(async () => 'done') };
    const apart: number[] = [];
    const applyDefaults = store.applyDefaults.bind(store);
    store.applyDefaults = async (owner, defaults) => {
      if (defaults.length > 0) apart.push(...defaults.map((d) => d.id));
      return applyDefaults(owner, defaults);
    };
    const worker = new Worker({ store, services: serviceMap({ svc }), logger: memoryLogger().logger, lingerMs: 60_000 });
    worker.start();
    const first = await jobs.add('svc', 'quick', null);
    expect(await first.result()).toBe('done');
    const later = await Promise.all(Array.from({ length: 30 }, () => jobs.add('svc', 'quick', null)));
    for (const handle of later) expect(await handle.result()).toBe('done');
    for (const handle of [first, ...later]) expect(await store.getJob(handle.id)).toMatchObject({ state: 'succeeded', maxAttempts: 4, timeoutMs: 5000 });
    expect(apart).toEqual([first.id]);
    await worker.stop();
  });

  it('times out after a timeout longer than setTimeout can wait (24.8 days), not at once', async () => {
    const store = tempStore();
    const jobs = new WorkerService(store);
    const svc = { slowish: outsideprocess(async () => { await sleep(30); return 'ran'; }) };
    const worker = new Worker({ store, services: serviceMap({ svc }), logger: memoryLogger().logger });
    worker.start();
    const handle = await jobs.add('svc', 'slowish', null, { timeout: 30 * 24 * 3600 });
    expect(await handle.result()).toBe('ran');
    await worker.stop();
  });

  it('stopNow hands running jobs back at once; a timed-out method still running is recorded as timed out', async () => {
    const store = tempStore();
    const jobs = new WorkerService(store);
    const svc = {
      forever: outsideprocess(async () => new Promise(() => {})),
      deaf: outsideprocess(async () => new Promise(() => {})),
    };
    const worker = new Worker({ store, services: serviceMap({ svc }), logger: memoryLogger().logger, lingerMs: 60_000 });
    const running = await jobs.add('svc', 'forever', null);
    const timedOut = await jobs.add('svc', 'deaf', null, { timeout: 0.02, maxAttempts: 1 });
    worker.start();
    await expect.poll(async () => (await store.getJob(running.id))?.state).toBe('running');
    await sleep(100); // past the timeout of `deaf`, whose method goes on
    expect(await store.getJob(timedOut.id)).toMatchObject({ state: 'running' });
    const stopping = worker.stop(60_000);
    await sleep(50);
    await worker.stopNow();
    await stopping;
    expect(await store.getJob(running.id)).toMatchObject({ state: 'waiting', attempts: 0, leaseOwner: null });
    expect(await store.getJob(timedOut.id)).toMatchObject({ state: 'failed', attempts: 1, error: { name: 'JobTimeoutError' } });
  });

  it('claims with a recurring row it cannot plan, without waking every millisecond', async () => {
    const store = tempStore();
    const jobs = new WorkerService(store);
    await jobs.addAsRecurring('svc', 'tick', null, 3600);
    const db = new Database(store.path);
    db.prepare(`UPDATE recurring SET misfire = 'from-a-newer-version', next_run_at = ?`).run(Date.now() - 60_000);
    db.close();
    let reads = 0;
    const nextJobAt = store.nextJobAt.bind(store);
    store.nextJobAt = async () => { reads += 1; return nextJobAt(); };
    const svc = { tick: outsideprocess(async () => 'tick'), work: outsideprocess(async () => 'worked') };
    const { logger, lines } = memoryLogger();
    const worker = new Worker({ store, services: serviceMap({ svc }), logger });
    worker.start();
    const handle = await jobs.add('svc', 'work', null);
    expect(await handle.result()).toBe('worked');
    reads = 0;
    await sleep(300);
    await worker.stop();
    expect(reads).toBeLessThan(5);
    expect(lines().filter((l) => l.level === 50 && String(l.msg).includes('cannot be planned'))).toHaveLength(1);
  });
});

describe('owners', () => {
  it('are named with where their pid means something, and judged dead by pid only there', () => {
    const scope = pidScope();
    expect(scope).toMatch(/^[0-9a-f]{12}\.\d+$/); // Linux: boot id and pid namespace
    const dead = Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim());
    const here = ownerName('deadbeef', dead);
    expect(parseOwnerName(here)).toEqual({ host: parseOwnerName(here)!.host, pid: dead, scope });
    expect(isOwnerDead(here)).toBe(true);
    // The same hostname, another container (pid namespace) or machine (boot): its pids are not ours to check.
    expect(isOwnerDead(ownerName('deadbeef', dead, undefined, `${scope!.split('.')[0]}.1`))).toBe(false);
    expect(isOwnerDead(ownerName('deadbeef', dead, undefined, `000000000000.${scope!.split('.')[1]}`))).toBe(false);
    // An owner that does not say where (a version before this one), or a live pid: left to its heartbeat.
    expect(isOwnerDead(`${parseOwnerName(here)!.host}:${dead}:deadbeef`)).toBe(false);
    expect(isOwnerDead(ownerName('deadbeef', process.ppid))).toBe(false);
  });
});

describe('Supervisor', () => {
  it('measures a child\'s silence on the monotonic clock: a wall-clock step kills nothing', async () => {
    const store = tempStore();
    const clock = steppableClock();
    const children: ChildProcess[] = [];
    const supervisor = new Supervisor({
      processes: 1,
      // A child that says it is ready and beats every 100 ms, as a worker child does.
      spawn: () => {
        const child = spawn(process.execPath, ['-e', `
          process.send({ type: 'ready', owner: 'test:${process.pid}:child' });
          setInterval(() => process.send({ type: 'beat' }), 100);
          process.on('SIGTERM', () => process.exit(0));
        `], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
        children.push(child);
        return child;
      },
      store,
      logger: memoryLogger().logger,
      defaultTimeoutMs: null,
      stuckMs: 1000,
      checkIntervalMs: 20,
      clock,
    });
    expect(await supervisor.start()).toBeNull();
    clock.step(3_600_000);
    await sleep(300);
    expect(children).toHaveLength(1);
    expect(children[0]!.exitCode).toBeNull();
    expect(children[0]!.signalCode).toBeNull();
    await supervisor.stop();
  });
});

describe('Supervisor stopped during start-up', () => {
  it('is not a failed start: a child still loading, killed by the stop\'s SIGTERM before it could handle it, fails nothing', async () => {
    const children: ChildProcess[] = [];
    const supervisor = new Supervisor({
      processes: 2,
      // Children still loading their plugins: never ready, and no SIGTERM handler yet (the signal kills them).
      spawn: () => {
        const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
        children.push(child);
        return child;
      },
      store: tempStore(),
      logger: memoryLogger().logger,
      defaultTimeoutMs: null,
      stuckMs: 1000,
    });
    const starting = supervisor.start();
    await expect.poll(() => children.length).toBe(2);
    await supervisor.stop();
    expect(children.map((child) => child.signalCode)).toEqual(['SIGTERM', 'SIGTERM']);
    expect(supervisor.stopping).toBe(true);
    expect(await starting).toBeNull();
  });
});

describe('timeouts', () => {
  it('are JobTimeoutErrors that say how long', () => {
    expect(new JobTimeoutError(1500).message).toBe('the job did not finish within its timeout of 1.5 s');
  });
});
