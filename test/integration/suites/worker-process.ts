import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { deserialize } from '../../../src/serialization/payload.ts';
import type { JobRecord, JobStore } from '../../../src/store/job-store.ts';
import { WorkerService } from '../../../src/worker/worker-service.ts';
import { runCliHere } from '../../helpers/cli.ts';
import { startMain, workerArgs } from '../../helpers/processes.ts';
import { describeStore, type StoreFactory } from '../../helpers/store-factories.ts';
import { testDatabase } from '../../helpers/test-database.ts';

async function finished(store: JobStore, id: number, timeout = 15_000): Promise<JobRecord> {
  await expect.poll(async () => (await store.getJob(id))?.state, { timeout, interval: 20 }).toMatch(/^(succeeded|failed|cancelled)$/);
  return (await store.getJob(id))!;
}

function runsPerJob(probeFile: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const line of readFileSync(probeFile, 'utf8').split('\n')) {
    if (line === '') continue;
    const id = Number(line.split(' ')[0]);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** worker process (main.ts --worker): run against `factory`'s store (see the worker-process.*.test.ts files). */
export function workerProcessTests(factory: StoreFactory): void {
  describeStore(factory, 'worker process (main.ts --worker)', () => {
  const fixture = async () => {
    const db = await testDatabase(factory);
    return { ...db, probeFile: join(db.dir, 'runs.log') };
  };

  it('applies a method\'s outsideprocess defaults to a job the jobs command added, which loads no plugins', async () => {
    const db = await fixture();
    const { store } = db;
    const added = await runCliHere(['jobs', 'add', 'probe', 'markedTimeout', ...workerArgs(db)]);
    expect(added.code).toBe(0);
    const id = Number(added.stdout.trim());
    expect(await store.getJob(id)).toMatchObject({ maxAttempts: 0, timeoutMs: null });
    const worker = startMain(workerArgs(db, '--worker', '--set', 'worker.killGraceSeconds=0.2'));
    expect(await finished(store, id)).toMatchObject({ state: 'failed', attempts: 1, maxAttempts: 1, timeoutMs: 300, error: { name: 'JobTimeoutError' } });
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('runs immediate, scheduled and recurring jobs with their params, across processes', async () => {
    const db = await fixture();
    const { store, jobs } = db;
    const worker = startMain(workerArgs(db, '--worker'));
    await worker.waitForLog((l) => l.msg === 'worker started');

    const params = { when: new Date('2026-05-01T09:30:00Z'), big: 2n ** 70n, map: new Map([['k', new Set([1])]]), bytes: Buffer.from('hi'), missing: undefined };
    const immediate = await jobs.add('probe', 'echo', params);
    const runAt = new Date(Date.now() + 400);
    const scheduled = await jobs.addAsScheduled('probe', 'echo', 'later', runAt);
    const recurring = await jobs.addAsRecurring('probe', 'echo', 'tick', 0.2);

    const done = await finished(store, immediate.id);
    expect(done.state).toBe('succeeded');
    expect(deserialize(done.result!)).toEqual(params);
    expect(Buffer.isBuffer((deserialize(done.result!) as typeof params).bytes)).toBe(true);

    const late = await finished(store, scheduled.id);
    expect(late.state).toBe('succeeded');
    expect(late.startedAt).toBeGreaterThanOrEqual(runAt.getTime());

    await expect.poll(async () => (await store.listJobs({ state: 'succeeded' })).filter((j) => j.recurringId === recurring.id).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    const ticks = (await store.listJobs()).filter((j) => j.recurringId === recurring.id);
    const offsets = ticks.map((j) => j.fireTime! - recurring.anchor).sort((a, b) => a - b);
    expect(offsets.slice(0, 3)).toEqual([0, 200, 400]);

    const line = worker.logs().find((l) => l.msg === 'echo' && l.jobId === immediate.id);
    expect(line).toMatchObject({ service: 'probe', method: 'echo' });

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('fails bad targets cleanly and keeps running', async () => {
    const db = await fixture();
    const { store, jobs } = db;
    const bad = [
      await jobs.add('nowhere', 'run', null),
      await jobs.add('probe', 'missing', null),
      await jobs.add('probe', 'unmarked', null),
      await jobs.add('probe', '__proto__', null),
      await jobs.add('probe', 'constructor', null),
      await jobs.add('probe', 'toString', null),
    ];
    const worker = startMain(workerArgs(db, '--worker'));
    for (const { id } of bad) {
      expect(await finished(store, id)).toMatchObject({ state: 'failed', attempts: 1, error: { name: 'JobTargetError' } });
    }
    const failing = await jobs.add('probe', 'fail', { message: 'it broke' }, { maxAttempts: 1 });
    expect(await finished(store, failing.id)).toMatchObject({ state: 'failed', error: { message: 'it broke' } });
    expect((await store.getJob(failing.id))?.error?.stack).toContain('plugin.ts');
    const failedLine = await worker.waitForLog((l) => l.jobId === failing.id && l.msg === 'job failed');
    expect(failedLine).toHaveProperty('err.stack');
    const good = await jobs.add('probe', 'echo', 'still alive');
    expect((await finished(store, good.id)).state).toBe('succeeded');
    expect(worker.child.exitCode).toBeNull();
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('two workers run 1,000 jobs with no job run twice', async () => {
    const db = await fixture();
    const { store, jobs, probeFile } = db;
    const ids = (await jobs.addMany(Array.from({ length: 1000 }, (_, i) => ({ service: 'probe', method: 'echo', params: i })))).map((handle) => handle.id);
    const args = workerArgs(db, '--worker', '--set', `probe.file=${probeFile}`, '--concurrency', '8');
    const workers = [startMain(args), startMain(args)];
    await expect.poll(async () => (await store.listJobs({ state: 'succeeded', limit: 2000 })).length, { timeout: 30_000, interval: 100 }).toBe(1000);
    for (const worker of workers) worker.child.kill('SIGTERM');
    for (const worker of workers) expect(await worker.exited).toBe(0);
    const runs = runsPerJob(probeFile);
    expect(runs.size).toBe(1000);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(ids)).toEqual(new Set(runs.keys()));
  });

  it('on SIGTERM stops claiming, lets the running job finish, and exits 0', async () => {
    const db = await fixture();
    const { store, jobs } = db;
    const worker = startMain(workerArgs(db, '--worker', '--concurrency', '1'));
    await worker.waitForLog((l) => l.msg === 'worker started');
    const slow = await jobs.add('probe', 'sleep', { ms: 600 });
    const queued = await jobs.add('probe', 'echo', 'queued behind');
    await expect.poll(async () => (await store.getJob(slow.id))?.state, { interval: 10 }).toBe('running');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect((await store.getJob(slow.id))?.state).toBe('succeeded');
    expect((await store.getJob(queued.id))?.state).toBe('waiting');
  });

  it('notices its database deleted, makes a fresh one, and runs jobs added afterwards', async () => {
    const db = await fixture();
    const { store, jobs } = db;
    const worker = startMain(workerArgs(db, '--worker'));
    await worker.waitForLog((l) => l.msg === 'worker started');
    const before = await jobs.add('probe', 'echo', 'before');
    expect((await finished(store, before.id)).state).toBe('succeeded');
    await db.drop();

    const fresh = await db.reopen();
    const after = await new WorkerService(fresh).add('probe', 'echo', 'after');
    expect(after.database).not.toBe(before.database);
    expect((await finished(fresh, after.id)).state).toBe('succeeded');
    expect((await fresh.listJobs()).map((job) => job.id)).toEqual([after.id]);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });
});
}
