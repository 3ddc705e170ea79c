import { expect, it } from 'vitest';
import { JobFailedError } from '../../../src/worker/job-handle.ts';
import type { ProgressEvent } from '../../../src/worker/result-watcher.ts';
import { runMain, startMain, workerArgs } from '../../helpers/processes.ts';
import { describeStore, type StoreFactory } from '../../helpers/store-factories.ts';
import { testDatabase } from '../../helpers/test-database.ts';

/** Results and progress across processes, and keys, on `factory`'s store (see the results.*.test.ts files). */
export function resultsTests(factory: StoreFactory): void {
  describeStore(factory, 'results and progress across processes', () => {
  it('an app process gets results, errors and progress of jobs the worker process runs', async () => {
    const db = await testDatabase(factory);
    const { jobs } = db;
    const worker = startMain(workerArgs(db, '--worker'));
    const value = { when: new Date('2026-01-02T03:04:05.678Z'), big: -(2n ** 65n), map: new Map([['k', [1, undefined]]]), set: new Set([new Date(0)]), bytes: new Uint8Array([0, 255]), buffer: Buffer.from('ok'), nothing: undefined, nested: { list: [null, 'x'] } };
    const echo = await jobs.add('probe', 'echo', value);
    expect(await echo.result()).toEqual(value);

    const failing = await jobs.add('probe', 'fail', { message: 'remote failure' }, { maxAttempts: 1 });
    const error = await failing.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobFailedError);
    expect((error as JobFailedError).jobError).toMatchObject({ name: 'Error', message: 'remote failure' });
    expect((error as JobFailedError).jobError.stack).toContain('plugin.ts');

    const steps = await jobs.add('probe', 'steps', { steps: 4, ms: 30 });
    const events: ProgressEvent[] = [];
    steps.onProgress((event) => events.push(event));
    expect(await steps.result()).toBe(4);
    await expect.poll(() => events.some((e) => e.type === 'warning')).toBe(true);
    const progress = events.filter((e) => e.type === 'progress').map((e) => (e.type === 'progress' ? e.current : -1));
    // Reports can coalesce between two looks, but they arrive in order and end at 4 of 4.
    expect(progress.at(-1)).toBe(4);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(events[0]).toMatchObject({ type: 'note', message: 'starting' });
    expect(events.at(-1)).toMatchObject({ type: 'warning', message: 'done, with a warning' });

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('runs a diamond of jobs in order: the last sees its parents\' results, types intact; a failed parent cancels it until retried', async () => {
    const db = await testDatabase(factory);
    const { jobs, store } = db;
    const worker = startMain(workerArgs(db, '--worker'));
    const when = new Date('2026-03-04T05:06:07.000Z');
    const [a, b, c, d] = await jobs.addMany([
      { service: 'probe', method: 'echo', params: 'a' },
      { service: 'probe', method: 'echo', params: { when }, options: { after: [{ entry: 0 }] } },
      { service: 'probe', method: 'echo', params: 2n, options: { after: [{ entry: 0 }] } },
      { service: 'probe', method: 'parents', options: { after: [{ entry: 1 }, { entry: 2 }] } },
    ]);
    expect(await d!.result()).toEqual([
      { id: b!.id, state: 'succeeded', result: { when }, error: null },
      { id: c!.id, state: 'succeeded', result: 2n, error: null },
    ]);
    const startOf = async (id: number) => (await store.getJob(id))!.startedAt!;
    const endOf = async (id: number) => (await store.getJob(id))!.finishedAt!;
    expect(await startOf(d!.id)).toBeGreaterThanOrEqual(Math.max(await endOf(b!.id), await endOf(c!.id)));
    expect(await startOf(b!.id)).toBeGreaterThanOrEqual(await endOf(a!.id));

    // A failing branch: its dependant ends cancelled at once, naming it; the other branch runs; a retry brings it back.
    const [root, bad, good, last] = await jobs.addMany([
      { service: 'probe', method: 'echo', params: 'root' },
      { service: 'probe', method: 'fail', params: { message: 'step failed' }, options: { after: [{ entry: 0 }], maxAttempts: 1 } },
      { service: 'probe', method: 'echo', params: 'good', options: { after: [{ entry: 0 }] } },
      { service: 'probe', method: 'parents', options: { after: [{ entry: 1 }, { entry: 2 }] } },
    ]);
    await expect(last!.result()).rejects.toMatchObject({ code: 'ERR_JOB_CANCELLED', reason: { name: 'ParentFailedError', message: expect.stringContaining(`job ${bad!.id}`) } });
    expect(await good!.result()).toBe('good');
    expect(await store.getJob(last!.id)).toMatchObject({ state: 'cancelled', cancelledBy: bad!.id, attempts: 0 });
    expect(await root!.result()).toBe('root');
    await jobs.retry(bad!.id);
    expect(await store.getJob(last!.id)).toMatchObject({ state: 'waiting', waitingFor: 1 });
    await expect(bad!.result()).rejects.toMatchObject({ jobError: { message: 'step failed' } });
    expect(await store.getJob(last!.id)).toMatchObject({ state: 'cancelled', cancelledBy: bad!.id });

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('two processes adding the same key at once get one job', async () => {
    const db = await testDatabase(factory);
    const { store } = db;
    const runs = await Promise.all(Array.from({ length: 4 }, () =>
      runMain([...db.args, 'jobs', 'add', 'svc', 'sync', '--key', 'account-1'])));
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(new Set(runs.map((r) => r.stdout)).size).toBe(1);
    expect(await store.listJobs()).toHaveLength(1);
  });
});
}
