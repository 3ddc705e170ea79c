import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deserialize } from '../../src/serialization/payload.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { JobRecord } from '../../src/store/job-store.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import { runCliHere } from '../helpers/cli.ts';
import { startMain, workerArgs } from '../helpers/processes.ts';
import { tempDir } from '../helpers/temp.ts';

/** A database in a temp folder, a WorkerService on it for this (the "app") side, and a probe log file. */
function fixture() {
  const dir = tempDir('worker-');
  const dbPath = join(dir, 'jobs.db');
  const store = SqliteStore.open({ path: dbPath });
  return { dir, dbPath, store, jobs: new WorkerService(store), probeFile: join(dir, 'runs.log') };
}

async function finished(store: SqliteStore, id: number, timeout = 15_000): Promise<JobRecord> {
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

describe('worker process (main.ts --worker)', () => {
  it('applies a method\'s outsideprocess defaults to a job the jobs command added, which loads no plugins', async () => {
    const { dbPath, store } = fixture();
    const added = await runCliHere(['jobs', 'add', 'probe', 'markedTimeout', ...workerArgs(dbPath)]);
    expect(added.code).toBe(0);
    const id = Number(added.stdout.trim());
    expect(await store.getJob(id)).toMatchObject({ maxAttempts: 0, timeoutMs: null });
    const worker = startMain(workerArgs(dbPath, '--worker', '--set', 'worker.killGraceSeconds=0.2'));
    expect(await finished(store, id)).toMatchObject({ state: 'failed', attempts: 1, maxAttempts: 1, timeoutMs: 300, error: { name: 'JobTimeoutError' } });
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('runs immediate, scheduled and recurring jobs with their params, across processes', async () => {
    const { dbPath, store, jobs } = fixture();
    const worker = startMain(workerArgs(dbPath, '--worker'));
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
    await store.close();
  });

  it('fails bad targets cleanly and keeps running', async () => {
    const { dbPath, store, jobs } = fixture();
    const bad = [
      await jobs.add('nowhere', 'run', null),
      await jobs.add('probe', 'missing', null),
      await jobs.add('probe', 'unmarked', null),
      await jobs.add('probe', '__proto__', null),
      await jobs.add('probe', 'constructor', null),
      await jobs.add('probe', 'toString', null),
    ];
    const worker = startMain(workerArgs(dbPath, '--worker'));
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
    await store.close();
  });

  it('two workers run 1,000 jobs with no job run twice', async () => {
    const { dbPath, store, jobs, probeFile } = fixture();
    const ids: number[] = [];
    for (let i = 0; i < 1000; i++) ids.push((await jobs.add('probe', 'echo', i)).id);
    const args = workerArgs(dbPath, '--worker', '--set', `probe.file=${probeFile}`, '--concurrency', '8');
    const workers = [startMain(args), startMain(args)];
    await expect.poll(async () => (await store.listJobs({ state: 'succeeded', limit: 2000 })).length, { timeout: 30_000, interval: 100 }).toBe(1000);
    for (const worker of workers) worker.child.kill('SIGTERM');
    for (const worker of workers) expect(await worker.exited).toBe(0);
    const runs = runsPerJob(probeFile);
    expect(runs.size).toBe(1000);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(ids)).toEqual(new Set(runs.keys()));
    await store.close();
  });

  it('on SIGTERM stops claiming, lets the running job finish, and exits 0', async () => {
    const { dbPath, store, jobs } = fixture();
    const worker = startMain(workerArgs(dbPath, '--worker', '--concurrency', '1'));
    await worker.waitForLog((l) => l.msg === 'worker started');
    const slow = await jobs.add('probe', 'sleep', { ms: 600 });
    const queued = await jobs.add('probe', 'echo', 'queued behind');
    await expect.poll(async () => (await store.getJob(slow.id))?.state, { interval: 10 }).toBe('running');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect((await store.getJob(slow.id))?.state).toBe('succeeded');
    expect((await store.getJob(queued.id))?.state).toBe('waiting');
    await store.close();
  });

  it('notices its database deleted, reopens a fresh one, and runs jobs added afterwards', async () => {
    const { dbPath, store, jobs } = fixture();
    const worker = startMain(workerArgs(dbPath, '--worker'));
    await worker.waitForLog((l) => l.msg === 'worker started');
    const before = await jobs.add('probe', 'echo', 'before');
    expect((await finished(store, before.id)).state).toBe('succeeded');
    await store.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true });

    await worker.waitForLog((l) => String(l.msg).startsWith('the jobs database file was deleted: creating a new one'), 10_000);
    const fresh = SqliteStore.open({ path: dbPath });
    expect(await fresh.listJobs()).toEqual([]);
    const after = await new WorkerService(fresh).add('probe', 'echo', 'after');
    expect((await finished(fresh, after.id)).state).toBe('succeeded');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    await fresh.close();
  });
});
