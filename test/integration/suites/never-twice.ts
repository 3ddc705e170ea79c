import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { JobRecord, JobStore } from '../../../src/store/job-store.ts';
import { probeLines, startMain, workerArgs } from '../../helpers/processes.ts';
import { describeStore, type StoreFactory } from '../../helpers/store-factories.ts';
import { testDatabase } from '../../helpers/test-database.ts';

/*
 * "Never twice at once", with real worker processes: the defects issue 14
 * found in timeouts, stopping and signals each ran a job again (or at the
 * same time as its retry). Each test fails on the code before its fix.
 */


async function finished(store: JobStore, id: number, timeout = 20_000): Promise<JobRecord> {
  await expect.poll(async () => (await store.getJob(id))?.state, { timeout, interval: 25 }).toMatch(/^(succeeded|failed|cancelled)$/);
  return (await store.getJob(id))!;
}

/** never twice at once: run against `factory`'s store (see the never-twice.*.test.ts files). */
export function neverTwiceTests(factory: StoreFactory): void {
  describeStore(factory, 'never twice at once', () => {
  const fixture = async () => {
    const db = await testDatabase(factory);
    return { ...db, probeFile: join(db.dir, 'runs.log') };
  };

  it('starts a timed-out job\'s retry only once the method of its first attempt has returned', async () => {
    const db = await fixture();
    const { store, jobs, probeFile } = db;
    // killGraceSeconds long enough that the lingering method is not stopped by replacing its process.
    const worker = startMain(workerArgs(db, '--worker', '--set', `probe.file=${probeFile}`, '--set', 'worker.killGraceSeconds=20'));
    await worker.waitForLog((l) => l.msg === 'worker started');
    // Times out at 0.2 s, but ignores its signal and runs 1.5 s; the retry would be due about a second after the timeout.
    const job = await jobs.add('probe', 'linger', { ms: 1500 }, { timeout: 0.2, maxAttempts: 2 });
    expect(await finished(store, job.id)).toMatchObject({ state: 'failed', attempts: 2, error: { name: 'JobTimeoutError' } });
    const lines = probeLines(probeFile).filter((line) => line.id === job.id);
    const at = (event: string, attempt: number): number => lines.find((l) => l.event === event && l.attempt === attempt)!.at;
    expect(lines.map((l) => `${l.event} ${l.attempt}`)).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
    expect(at('start', 2)).toBeGreaterThanOrEqual(at('end', 1));
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('a stopping worker renews its leases until its last job ends, so no other worker runs that job again', async () => {
    const db = await fixture();
    const { store, jobs, probeFile } = db;
    // Without a supervisor, and with leases of 0.6 s: a worker that stopped beating loses its jobs within a second.
    const args = workerArgs(db, '--worker', '--processes', '0', '--set', 'worker.leaseSeconds=0.6', '--set', `probe.file=${probeFile}`);
    const stopping = startMain(args);
    await stopping.waitForLog((l) => l.msg === 'worker started');
    const job = await jobs.add('probe', 'linger', { ms: 3000 }, { maxAttempts: 1 });
    await expect.poll(async () => (await store.getJob(job.id))?.state, { interval: 10 }).toBe('running');
    const other = startMain(args);
    await other.waitForLog((l) => l.msg === 'worker started');
    stopping.child.kill('SIGTERM'); // a rolling deploy: it drains (grace 30 s) while the new one runs
    expect(await finished(store, job.id)).toMatchObject({ state: 'succeeded', attempts: 1, result: '{"json":"lingered"}' });
    expect(await stopping.exited).toBe(0);
    expect(probeLines(probeFile).filter((line) => line.id === job.id && line.event === 'start')).toHaveLength(1);
    expect(other.logs().filter((l) => String(l.msg).startsWith('took back jobs'))).toEqual([]);
    other.child.kill('SIGTERM');
    expect(await other.exited).toBe(0);
  });

  it('takes one SIGTERM to the whole process group (systemd, kill -TERM -PGID) as one graceful stop', async () => {
    const db = await fixture();
    const { store, jobs, probeFile } = db;
    const worker = startMain(workerArgs(db, '--worker', '--set', `probe.file=${probeFile}`), { detached: true });
    await worker.waitForLog((l) => l.msg === 'worker started');
    const job = await jobs.add('probe', 'linger', { ms: 800 }, { maxAttempts: 1 });
    await expect.poll(async () => (await store.getJob(job.id))?.state, { interval: 10 }).toBe('running');
    // Every process gets it: the supervisor, and its child twice (its own copy, and the one the supervisor forwards).
    process.kill(-worker.child.pid!, 'SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(await store.getJob(job.id)).toMatchObject({ state: 'succeeded', attempts: 1 });
    expect(worker.logs().filter((l) => String(l.msg).startsWith('second stop request'))).toEqual([]);
  });

  it('records the jobs that finish next to a job that then blocks its process: they run exactly once', async () => {
    const db = await fixture();
    const { store, jobs, probeFile } = db;
    const worker = startMain(workerArgs(db, '--worker', '--set', `probe.file=${probeFile}`, '--set', 'worker.killGraceSeconds=0.2'));
    await worker.waitForLog((l) => l.msg === 'worker started');
    // Claimed in one batch and started in order: the five timers fire in one turn of the event loop, the
    // blocker's last; the five jobs finish just before it blocks the process for good.
    const quick = await jobs.addMany(Array.from({ length: 5 }, () => ({ service: 'probe', method: 'sleep', params: { ms: 300 } })));
    const blocker = await jobs.add('probe', 'sleepThenSpin', { ms: 300 }, { timeout: 0.5, maxAttempts: 1 });
    expect(await finished(store, blocker.id)).toMatchObject({ state: 'failed', isolated: true, error: { name: 'JobTimeoutError' } });
    for (const handle of quick) expect(await store.getJob(handle.id)).toMatchObject({ state: 'succeeded', attempts: 1 });
    const runs = probeLines(probeFile);
    for (const handle of quick) expect(runs.filter((line) => line.id === handle.id)).toHaveLength(1);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });
});
}
