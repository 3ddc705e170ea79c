import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { PROJECT_ROOT, probeLines, startMain, workerArgs } from '../../helpers/processes.ts';
import { describeStore, type StoreFactory } from '../../helpers/store-factories.ts';
import { testDatabase } from '../../helpers/test-database.ts';

/**
 * Whether this machine lets us start a process in a pid namespace of its own
 * (Linux, as root): how a worker on another host, or in a container with
 * pids of its own, looks to the others.
 */
const unshare = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0
  ? null
  : 'cannot start a process in a pid namespace of its own here (unshare --pid needs Linux and root)';

/**
 * Two worker hosts: each sees the other as another host (their pids mean
 * nothing to each other), so a dead one's jobs come back only when its
 * heartbeat has stood still for a lease.
 */
export function hostsTests(factory: StoreFactory): void {
  describeStore(factory, 'two worker hosts on one database', () => {
    it.skipIf(unshare !== null)(`run 5,000 jobs once each; kill -9 of one host mid-run loses nothing${unshare === null ? '' : ` (skipped: ${unshare})`}`, async () => {
      const db = await testDatabase(factory);
      const probeFile = join(db.dir, 'runs.log');
      const count = 5000;
      // Jobs of a few milliseconds: host A always holds some when it dies (no-op jobs could all be done by then, or
      // none held between two batches).
      const handles = await db.jobs.addMany(Array.from({ length: count }, () => ({ service: 'probe', method: 'sleep', params: { ms: 10 } })));
      const args = workerArgs(db, '--worker', '--concurrency', '8', '--set', 'worker.leaseSeconds=3', '--set', 'worker.stuckSeconds=2.5', '--set', `probe.file=${probeFile}`);
      const hostA = startMain(args, { detached: true });
      // In a group of its own, so that the test can signal the worker behind unshare (which forwards nothing).
      const hostB = startMain(args, { command: ['unshare', '--pid', '--fork', '--kill-child', '--mount-proc', process.execPath, '--import', 'tsx', `${PROJECT_ROOT}main.ts`], detached: true });
      await hostA.waitForLog((l) => l.msg === 'worker started', 20_000);
      await hostB.waitForLog((l) => l.msg === 'worker started', 20_000);
      await expect.poll(async () => (await db.store.listJobs({ state: 'succeeded', limit: count })).length, { timeout: 30_000, interval: 20 }).toBeGreaterThan(count / 4);
      process.kill(-hostA.child.pid!, 'SIGKILL'); // the whole host: its supervisor and its worker process at once
      await expect.poll(async () => (await db.store.listJobs({ state: 'succeeded', limit: count + 1 })).length, { timeout: 45_000, interval: 100 }).toBe(count);
      process.kill(-hostB.child.pid!, 'SIGTERM');
      await hostB.exited;
      expect(hostB.logs().filter((l) => String(l.msg).startsWith('stopped; exit status')).map((l) => l.exitCode)).toEqual([0, 0]);

      const runs = new Map<number, number>();
      for (const line of probeLines(probeFile)) runs.set(line.id, (runs.get(line.id) ?? 0) + 1);
      expect(new Set(runs.keys())).toEqual(new Set(handles.map((handle) => handle.id)));
      // Twice only what host A was running when it died, each with its attempt counted.
      const twice = [...runs].filter(([, n]) => n > 1).map(([id]) => id);
      expect(twice.length).toBeLessThanOrEqual(8);
      for (const id of twice) expect((await db.store.getJob(id))!.attempts).toBe(2);
      // A job that ran twice was taken back, and someone said so: host B (host A stopped heart-beating), or host A's own
      // supervisor if it replaced a worker process that looked stuck (on a loaded machine). Host A may also die
      // between two batches, holding nothing: then nothing ran twice.
      const tookBack = [...hostA.logs(), ...hostB.logs()].filter((l) =>
        String(l.msg).startsWith('took back jobs of a worker that stopped heart-beating') || (typeof l.jobsTakenBack === 'number' && l.jobsTakenBack > 0));
      if (twice.length > 0) expect(tookBack).not.toEqual([]);
    }, 90_000);
  });
}
