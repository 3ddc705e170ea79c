import { describe, expect, it } from 'vitest';
import { addJob, type AddFlags, type Output } from '../../src/cli/jobs-command.ts';
import { SchedulerError } from '../../src/errors.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import { newJob, tempStore } from '../helpers/store.ts';

/** Runs `jobs add svc m` with `flags` in this process; stderr lines come with when they were written. */
async function add(jobs: WorkerService, flags: AddFlags, noticeAfterMs: number) {
  const start = Date.now();
  const stdout: string[] = [];
  const stderr: { text: string; afterMs: number }[] = [];
  const output: Output = { out: (text) => stdout.push(text), write: (text) => stdout.push(text), err: (text) => stderr.push({ text, afterMs: Date.now() - start }) };
  const error = await addJob(jobs, 'svc', 'm', flags, output, { database: '/data/jobs.db', noticeAfterMs }).then(() => undefined, (reason: unknown) => reason);
  return { stdout, stderr, error, tookMs: Date.now() - start };
}

describe('jobs add --wait', () => {
  it('says on stderr, once, that no worker has claimed the job, and keeps waiting until --wait-timeout', async () => {
    const store = tempStore();
    const { stdout, stderr, error, tookMs } = await add(new WorkerService(store), { wait: true, waitTimeout: '1' }, 200);
    expect(stderr).toEqual([{
      text: 'job 1 has been due for 0.2 s and no worker has claimed it: no worker is running jobs on /data/jobs.db '
        + '(is a worker, --worker, running with this worker.dbpath?); still waiting (Ctrl-C stops waiting; the job stays)',
      afterMs: expect.any(Number) as number,
    }]);
    expect(stderr[0]!.afterMs).toBeGreaterThanOrEqual(200);
    expect(tookMs).toBeGreaterThanOrEqual(1000);
    expect(stdout).toEqual([]);
    expect(error).toBeInstanceOf(SchedulerError);
    expect(error).toMatchObject({
      code: 'ERR_RESULT_TIMEOUT',
      message: 'job 1 did not finish within 1 s (--wait-timeout): no worker has claimed it: no worker is running jobs on /data/jobs.db '
        + '(is a worker, --worker, running with this worker.dbpath?); it stays in the database (jobs cancel 1 drops it)',
    });
    expect(await store.getJob(1)).toMatchObject({ state: 'waiting', attempts: 0 });
  });

  it('says the workers are busy when some worker holds running jobs', async () => {
    const store = tempStore();
    await store.addJob(newJob({ runAt: 0 }));
    await store.claim({ owner: 'busy-worker', limit: 1, now: Date.now(), isolated: 'skip' });
    const { stderr } = await add(new WorkerService(store), { wait: true, waitTimeout: '0.6' }, 100);
    expect(stderr.map((line) => line.text)).toEqual([
      'job 2 has been due for 0.1 s and no worker has claimed it yet: the worker running jobs on /data/jobs.db is busy with others; still waiting (Ctrl-C stops waiting; the job stays)',
    ]);
  });

  it('counts from when a job added with --at falls due', async () => {
    const store = tempStore();
    const at = new Date(Date.now() + 500).toISOString();
    const { stderr } = await add(new WorkerService(store), { wait: true, waitTimeout: '1.2', at }, 200);
    expect(stderr).toHaveLength(1);
    expect(stderr[0]!.afterMs).toBeGreaterThanOrEqual(650);
  });

  it('says nothing about a job that finishes in time', async () => {
    const store = tempStore();
    const jobs = new WorkerService(store);
    const waiting = add(jobs, { wait: true }, 300);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [claimed] = await store.claim({ owner: 'w', limit: 1, now: Date.now(), isolated: 'skip' });
    await store.complete([{ ...claimed!, owner: 'w', outcome: 'succeeded', result: '{"json":42}', at: Date.now() }]);
    const { stdout, stderr, error } = await waiting;
    expect(error).toBeUndefined();
    expect(stdout).toEqual(['42']);
    expect(stderr).toEqual([]);
  });
});
