import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { JobRecord, JobStore } from '../../../src/store/job-store.ts';
import { startMain, workerArgs, type MainProcess } from '../../helpers/processes.ts';
import { describeStore, type StoreFactory } from '../../helpers/store-factories.ts';
import { testDatabase } from '../../helpers/test-database.ts';


async function finished(store: JobStore, id: number, timeout = 20_000): Promise<JobRecord> {
  await expect.poll(async () => (await store.getJob(id))?.state, { timeout, interval: 25 }).toMatch(/^(succeeded|failed|cancelled)$/);
  return (await store.getJob(id))!;
}

/** Pids of the worker children that announced themselves, oldest first. */
function childPids(worker: MainProcess): number[] {
  return worker.logs().filter((l) => l.msg === 'worker started').map((l) => l.pid as number);
}

/** faults, with real processes: run against `factory`'s store (see the faults.*.test.ts files). */
export function faultsTests(factory: StoreFactory): void {
  describeStore(factory, 'faults, with real processes', () => {
  const fixture = async () => {
    const db = await testDatabase(factory);
    return { ...db, probeFile: join(db.dir, 'runs.log') };
  };

  it('loses nothing when worker processes are SIGKILLed repeatedly: only jobs running at a kill run twice', async () => {
    const db = await fixture();
    const { store, jobs, probeFile } = db;
    const count = 3000;
    const kills = 4;
    // A new child claims the jobs its dead predecessor ran first (they are the oldest due): one may be
    // running at every kill, so each job may need an attempt per kill and one more.
    await jobs.addMany(Array.from({ length: count }, () => ({ service: 'probe', method: 'sleep', params: { ms: 1 }, options: { maxAttempts: kills + 1 } })));
    const concurrency = 8;
    const worker = startMain(workerArgs(db, '--worker', '--concurrency', String(concurrency), '--set', `probe.file=${probeFile}`));
    for (let k = 0; k < kills; k++) {
      await expect.poll(() => childPids(worker).length, { timeout: 15_000, interval: 10 }).toBe(k + 1);
      // Let the new child get into its stride, then kill it mid-work.
      await expect.poll(async () => (await store.listJobs({ state: 'running' })).length, { timeout: 15_000, interval: 5 }).toBeGreaterThan(0);
      process.kill(childPids(worker)[k]!, 'SIGKILL');
    }
    await expect.poll(async () => (await store.listJobs({ state: 'succeeded', limit: count + 1 })).length, { timeout: 45_000, interval: 100 }).toBe(count);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);

    const runs = new Map<number, number>();
    for (const line of readFileSync(probeFile, 'utf8').split('\n').filter(Boolean)) {
      const id = Number(line.split(' ')[0]);
      runs.set(id, (runs.get(id) ?? 0) + 1);
    }
    expect(runs.size).toBe(count);
    const twice = [...runs].filter(([, n]) => n > 1).map(([id]) => id);
    expect(twice.length).toBeLessThanOrEqual(kills * concurrency);
    for (const id of twice) expect((await store.getJob(id))!.attempts).toBeGreaterThan(1);
    expect(worker.logs().filter((l) => l.msg === 'worker process exited: worker process exited unexpectedly (SIGKILL)')).toHaveLength(kills);
  }, 60_000);

  it('ends a job that kills its worker every time as failed once its attempts are used, instead of crash-looping', async () => {
    const db = await fixture();
    const { store, jobs, probeFile } = db;
    const deadly = await jobs.add('probe', 'suicide', null, { maxAttempts: 2 });
    const worker = startMain(workerArgs(db, '--worker', '--set', `probe.file=${probeFile}`));
    const job = await finished(store, deadly.id);
    expect(job).toMatchObject({ state: 'failed', attempts: 2, error: { name: 'WorkerLostError' } });
    expect(readFileSync(probeFile, 'utf8').trim().split('\n')).toHaveLength(2);
    expect((await store.getJobErrors(deadly.id)).map((e) => e.attempt)).toEqual([1, 2]);
    const after = await jobs.add('probe', 'echo', 'the worker lives on');
    expect((await finished(store, after.id)).state).toBe('succeeded');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('kills and replaces a worker process whose job busy-loops past its timeout; other jobs keep going', async () => {
    const db = await fixture();
    const { store, jobs } = db;
    const worker = startMain(workerArgs(db, '--worker', '--set', 'worker.killGraceSeconds=0.2'));
    await worker.waitForLog((l) => l.msg === 'worker started');
    const spinning = await jobs.add('probe', 'spin', {}, { timeout: 0.3, maxAttempts: 1 });
    const job = await finished(store, spinning.id);
    expect(job.state).toBe('failed');
    expect(job.error).toMatchObject({ name: 'JobTimeoutError' });
    expect(job.error?.message).toContain('its worker process was killed to stop it');
    await expect.poll(() => childPids(worker).length, { timeout: 10_000 }).toBe(2);
    const after = await jobs.add('probe', 'echo', 'next');
    expect((await finished(store, after.id)).state).toBe('succeeded');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('fails a job that never settles at its timeout, then replaces the process it lingers in', async () => {
    const db = await fixture();
    const { store, jobs } = db;
    const worker = startMain(workerArgs(db, '--worker', '--set', 'worker.killGraceSeconds=0.2'));
    await worker.waitForLog((l) => l.msg === 'worker started');
    const hanging = await jobs.add('probe', 'hang', null, { timeout: 0.2, maxAttempts: 1 });
    const other = await jobs.add('probe', 'echo', 'meanwhile');
    expect((await finished(store, other.id)).state).toBe('succeeded');
    const job = await finished(store, hanging.id);
    expect(job).toMatchObject({ state: 'failed', error: { name: 'JobTimeoutError' } });
    await worker.waitForLog((l) => l.msg === 'a job method ignored its abort signal and is still running');
    await expect.poll(() => childPids(worker).length, { timeout: 10_000 }).toBe(2);
    // The replacement was asked for: logged as planned, at info, and never as a crash.
    const planned = await worker.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('worker process replaced as planned'));
    expect(planned.level).toBe(30);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const crashLines = worker.logs().filter((l) => /exited unexpectedly|code 75/.test(String(l.msg)) || l.code === 75);
    expect(crashLines).toEqual([]);
    expect(worker.logs().filter((l) => (l.level as number) >= 40 && String(l.msg).startsWith('worker process exited'))).toEqual([]);
  });

  it('kills a worker process whose event loop stays blocked, and counts the attempt', async () => {
    const db = await fixture();
    const { store, jobs } = db;
    const worker = startMain(workerArgs(db, '--worker', '--set', 'worker.stuckSeconds=1'));
    await worker.waitForLog((l) => l.msg === 'worker started');
    const spinning = await jobs.add('probe', 'spin', {}, { maxAttempts: 1 });
    const job = await finished(store, spinning.id);
    expect(job).toMatchObject({ state: 'failed', attempts: 1, error: { name: 'WorkerLostError' } });
    expect(job.error?.message).toContain('event loop was blocked');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('cancels a running job from another process: its signal fires and it ends cancelled', async () => {
    const db = await fixture();
    const { store, jobs } = db;
    const worker = startMain(workerArgs(db, '--worker'));
    await worker.waitForLog((l) => l.msg === 'worker started');
    const slow = await jobs.add('probe', 'sleep', { ms: 60_000 });
    await expect.poll(async () => (await store.getJob(slow.id))?.state, { interval: 10 }).toBe('running');
    expect(await jobs.cancel(slow.id)).toBe('requested');
    expect(await finished(store, slow.id)).toMatchObject({ state: 'cancelled', error: { name: 'JobCancelledError' } });
    const waiting = await jobs.addAsScheduled('probe', 'echo', null, new Date(Date.now() + 60_000));
    expect(await jobs.cancel(waiting.id)).toBe('cancelled');
    expect((await store.getJob(waiting.id))?.state).toBe('cancelled');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('enqueues each occurrence of a recurring job once with several supervisors', async () => {
    const db = await fixture();
    const { store, jobs, probeFile } = db;
    const record = await jobs.addAsRecurring('probe', 'echo', 'tick', 0.05);
    const args = workerArgs(db, '--worker', '--processes', '2', '--set', `probe.file=${probeFile}`);
    const workers = [startMain(args), startMain(args)];
    // Six processes starting at once on a loaded machine (a whole suite in parallel) took over 15 s to be ready:
    // the bound is on the fires once they run, not on their start.
    for (const worker of workers) await worker.waitForLog((l) => l.msg === 'worker started', 40_000);
    await expect.poll(async () => (await store.listJobs({ state: 'succeeded' })).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(20);
    for (const worker of workers) worker.child.kill('SIGTERM');
    for (const worker of workers) expect(await worker.exited).toBe(0);
    const occurrences = (await store.listJobs()).filter((j) => j.recurringId === record.id);
    const fireTimes = occurrences.map((j) => j.fireTime);
    expect(new Set(fireTimes).size).toBe(fireTimes.length);
    const lines = readFileSync(probeFile, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[0]);
    expect(new Set(lines).size).toBe(lines.length);
  }, 90_000);
});
}
