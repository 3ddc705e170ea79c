import { join } from 'node:path';
import { expect, it } from 'vitest';
import { probeLines, startMain, workerArgs } from '../../helpers/processes.ts';
import { describeStore, type StoreFactory } from '../../helpers/store-factories.ts';
import { testDatabase } from '../../helpers/test-database.ts';

/** Per-key concurrency with real worker processes, on `factory`'s store (see the limits.*.test.ts files). */
export function limitsTests(factory: StoreFactory): void {
  describeStore(factory, 'per-key concurrency and debounce across worker processes', () => {
    it('20 debounced adds in a burst run once, with the last params, and all 20 handles resolve with that result', async () => {
      const db = await testDatabase(factory);
      const probeFile = join(db.dir, 'runs.log');
      const worker = startMain(workerArgs(db, '--worker', '--set', `probe.file=${probeFile}`));
      await worker.waitForLog((l) => l.msg === 'worker started');
      const handles = await Promise.all(Array.from({ length: 20 }, (_, i) =>
        db.jobs.add('probe', 'echo', { n: i }, { debounce: { key: 'burst', seconds: 0.3 } })));
      expect(new Set(handles.map((h) => h.id)).size).toBe(1);
      const results = await Promise.all(handles.map((h) => h.result()));
      expect(results).toEqual(Array.from({ length: 20 }, () => ({ n: 19 })));
      expect(probeLines(probeFile).filter((l) => l.id === handles[0]!.id)).toHaveLength(1);
      // Once it ran, the next add is a new job.
      const later = await db.jobs.add('probe', 'echo', { n: 20 }, { debounce: { key: 'burst', seconds: 0.05 } });
      expect(later.id).not.toBe(handles[0]!.id);
      expect(await later.result()).toEqual({ n: 20 });
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    });

    it('a rate limit of 10 per second over 50 jobs: no window of a second has more than 10 starts, no attempt is used', async () => {
      const db = await testDatabase(factory);
      await db.jobs.setRateLimit('api', { limit: 10, perSeconds: 1 });
      const handles = await db.jobs.addMany(Array.from({ length: 50 }, (_, i) => ({ service: 'probe', method: 'echo', params: i, options: { rateLimit: 'api' } })));
      const worker = startMain(workerArgs(db, '--worker', '--concurrency', '20'));
      await worker.waitForLog((l) => l.msg === 'worker started');
      for (const handle of handles) await handle.result();
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      const jobs = await Promise.all(handles.map(async (h) => (await db.store.getJob(h.id))!));
      expect(jobs.every((j) => j.state === 'succeeded' && j.attempts === 1)).toBe(true);
      // Start times as the store recorded them (the claim's clock: the database's, on PostgreSQL).
      const starts = jobs.map((j) => j.startedAt!).sort((a, b) => a - b);
      for (const t of starts) expect(starts.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(10);
      expect(starts.at(-1)! - starts[0]!).toBeGreaterThanOrEqual(4000); // 50 starts at 10 a second take four windows at least
    }, 60_000);

    it('200 jobs on one key with limit 2, two worker processes: never more than 2 run at once, and all run', async () => {
      const db = await testDatabase(factory);
      const probeFile = join(db.dir, 'runs.log');
      const count = 200;
      const handles = await db.jobs.addMany(Array.from({ length: count }, () => (
        { service: 'probe', method: 'linger', params: { ms: 3 }, options: { concurrency: { key: 'zone', limit: 2 } } })));
      const args = workerArgs(db, '--worker', '--concurrency', '8', '--set', `probe.file=${probeFile}`);
      const workers = [startMain(args), startMain(args)];
      for (const worker of workers) await worker.waitForLog((l) => l.msg === 'worker started');
      await expect.poll(async () => (await db.store.listJobs({ state: 'succeeded', limit: count + 1 })).length, { timeout: 40_000, interval: 100 }).toBe(count);
      for (const worker of workers) worker.child.kill('SIGTERM');
      for (const worker of workers) expect(await worker.exited).toBe(0);

      const lines = probeLines(probeFile);
      expect(new Set(lines.filter((l) => l.event === 'start').map((l) => l.id))).toEqual(new Set(handles.map((h) => h.id)));
      // A job of the key is claimed only after another's outcome is recorded, which comes after its `end` line:
      // at equal milliseconds an end goes first.
      const events = lines.map((l) => ({ at: l.at, delta: l.event === 'start' ? 1 : -1 })).sort((a, b) => a.at - b.at || a.delta - b.delta);
      let running = 0;
      let most = 0;
      for (const { delta } of events) {
        running += delta;
        most = Math.max(most, running);
      }
      expect(most).toBeLessThanOrEqual(2);
    }, 60_000);

    it('a killed worker\'s slot comes back with its job: the job runs again, then the one waiting behind it', async () => {
      const db = await testDatabase(factory);
      const probeFile = join(db.dir, 'runs.log');
      const args = workerArgs(db, '--worker', '--set', `probe.file=${probeFile}`);
      const first = startMain(args, { detached: true });
      await first.waitForLog((l) => l.msg === 'worker started');
      const options = { concurrency: { key: 'lock' } };
      const holder = await db.jobs.add('probe', 'linger', { ms: 5, firstMs: 60_000 }, options);
      const behind = await db.jobs.add('probe', 'linger', { ms: 5 }, options);
      // Its method has started (the database says running from the claim on, a moment before the method runs).
      await expect.poll(() => probeLines(probeFile).some((l) => l.id === holder.id && l.event === 'start'), { interval: 20 }).toBe(true);
      await expect.poll(async () => (await db.store.getJob(behind.id))?.parked, { interval: 20 }).toBe(true);
      process.kill(-first.child.pid!, 'SIGKILL'); // the supervisor and its worker at once: nothing hands the job back
      await first.exited;
      const second = startMain(args);
      await second.waitForLog((l) => l.msg === 'worker started');
      await expect(holder.result()).resolves.toBe('lingered');
      await expect(behind.result()).resolves.toBe('lingered');
      expect(await db.store.getJob(holder.id)).toMatchObject({ state: 'succeeded', attempts: 2 });
      expect(await db.store.getJob(behind.id)).toMatchObject({ state: 'succeeded', attempts: 1 });
      const starts = probeLines(probeFile).filter((l) => l.event === 'start').map((l) => l.id);
      expect(starts).toEqual([holder.id, holder.id, behind.id]);
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }, 60_000);
  });
}
