/**
 * Workers and an app on PostgreSQL when the server goes away, with real
 * processes: the server restarted (fast and immediate) on a private cluster
 * the test starts itself, and a worker host cut off by a TCP proxy.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord, JobStore } from '../../src/store/job-store.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { freshSchema, PGTEST_URL, postgresSkipReason, tempPostgresStore } from '../helpers/postgres.ts';
import { probeLines, startMain, workerArgs, type MainProcess } from '../helpers/processes.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { tempDir } from '../helpers/temp.ts';

const ADD_LOOP = fileURLToPath(new URL('../fixtures/add-loop.ts', import.meta.url));

interface AddLine { readonly n: number; readonly id?: number; readonly error?: string }

async function finished(store: JobStore, id: number, timeout = 20_000): Promise<JobRecord> {
  await expect.poll(async () => (await store.getJob(id))?.state, { timeout, interval: 25 }).toMatch(/^(succeeded|failed|cancelled)$/);
  return (await store.getJob(id))!;
}

const dbArgs = (url: string, schema: string, ...extra: string[]): { args: string[] } => ({
  args: ['--set', `worker.dbpath=${url}`, '--set', `worker.postgres.schema=${schema}`, ...extra],
});

describe.skipIf(postgresSkipReason !== null)('workers on PostgreSQL when the server goes away', () => {
  let cluster: PgCluster;
  beforeAll(async () => { cluster = await startPgCluster(); });
  afterAll(async () => { await cluster?.cleanup(); });

  it('a restart (fast, then immediate) while two workers drain and an app adds: every add that resolved runs, no process dies', async () => {
    const dir = tempDir('pg-restart-');
    const probeFile = join(dir, 'runs.log');
    const schema = 'restart';
    const db = dbArgs(cluster.url, schema, '--set', 'worker.postgres.connectTimeoutSeconds=20');
    const workers = [0, 1].map(() => startMain(workerArgs(db, '--worker', '--set', `probe.file=${probeFile}`)));
    for (const worker of workers) await worker.waitForLog((l) => l.msg === 'worker started', 20_000);
    const app = startMain([cluster.url, '5', schema], { command: [process.execPath, '--import', 'tsx', ADD_LOOP] });
    const added = (): AddLine[] => app.logs().filter((l) => 'n' in l) as unknown as AddLine[];
    await expect.poll(() => added().length, { timeout: 10_000, interval: 10 }).toBeGreaterThanOrEqual(50);
    for (const mode of ['fast', 'immediate'] as const) {
      await cluster.stop(mode);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await cluster.start();
      const before = added().length;
      await expect.poll(() => added().length, { timeout: 20_000, interval: 20 }).toBeGreaterThanOrEqual(before + 50);
    }
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);

    const resolved = added().filter((l) => l.id !== undefined);
    // An add whose connection dropped after it was sent rejects saying it may or may not have been stored (README):
    // such a job may exist and run. Every other rejection stored nothing.
    const unknown = added().filter((l) => l.error !== undefined && /may or may not have been stored/.test(l.error));
    const store = await PostgresStore.open({ url: cluster.url, schema });
    try {
      await expect.poll(async () => (await store.listJobs({ state: 'succeeded', limit: 100_000 })).length, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(resolved.length);
      // No job appears that no add made; wait out any still running, then count again.
      await expect.poll(async () => (await store.listJobs({ state: 'waiting' })).length + (await store.listJobs({ state: 'running' })).length, { timeout: 30_000, interval: 100 }).toBe(0);
      expect((await store.listJobs({ limit: 100_000 })).length).toBeLessThanOrEqual(resolved.length + unknown.length);
    } finally {
      await store.close();
    }
    const marks = new Map<string, number>();
    for (const line of probeLines(probeFile)) marks.set(line.event, (marks.get(line.event) ?? 0) + 1);
    for (const line of resolved) expect(marks.get(`mark:${line.n}`) ?? 0).toBeGreaterThanOrEqual(1);
    // Only jobs in flight at a restart may have run twice: at most what two workers run at once, twice.
    const twice = resolved.filter((line) => (marks.get(`mark:${line.n}`) ?? 0) > 1);
    expect(twice.length).toBeLessThanOrEqual(2 * 2 * 10);
    for (const worker of workers) {
      expect(worker.child.exitCode).toBeNull();
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    }
  }, 90_000);

  it('a worker cut off from the database: its jobs go to another worker after its lease; once the link is back its outcome is refused and it works on', async () => {
    const schema = freshSchema();
    const store = await tempPostgresStore({ schema });
    const jobs = new WorkerService(store);
    const dir = tempDir('pg-cut-');
    const probeFile = join(dir, 'runs.log');
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(PGTEST_URL).port || 5432) });
    const common = ['--worker', '--processes', '0', '--set', 'worker.leaseSeconds=1.5', '--set', `probe.file=${probeFile}`, '--set', 'worker.postgres.connectTimeoutSeconds=2'];
    let cutOff: MainProcess | undefined;
    let other: MainProcess | undefined;
    try {
      cutOff = startMain(workerArgs(dbArgs(proxy.through(PGTEST_URL), schema), ...common));
      await cutOff.waitForLog((l) => l.msg === 'worker started', 20_000);
      // Its first attempt outlasts the lease by far: the cut-off worker is still running it when it gives up.
      const job = await jobs.add('probe', 'linger', { ms: 300, firstMs: 8000 }, { maxAttempts: 3 });
      await expect.poll(async () => (await store.getJob(job.id))?.leaseOwner, { timeout: 10_000, interval: 20 }).toMatch(/./);
      // Cut before the other worker starts: under a loaded run its start took longer than the first attempt, which
      // then ended and was recorded through the link still up.
      proxy.cut();
      other = startMain(workerArgs(dbArgs(PGTEST_URL, schema), ...common));
      await other.waitForLog((l) => l.msg === 'worker started', 20_000);
      // The other worker sees the cut-off one's beat stand still for a lease, takes the job back and runs it.
      const done = await finished(store, job.id, 30_000);
      expect(done).toMatchObject({ state: 'succeeded', attempts: 2 });
      expect(done.leaseOwner).toBeNull();
      // The cut-off worker noticed it could not renew its leases and aborted the job before its lease ran out.
      await cutOff.waitForLog((l) => String(l.msg).startsWith('could not renew leases'), 10_000);
      proxy.restore();
      await cutOff.waitForLog((l) => String(l.msg).startsWith('outcome not recorded') || String(l.msg).startsWith('these jobs are no longer'), 20_000)
        .catch(() => undefined); // its write may not even have been sent before it gave the job up
      expect(await store.getJob(job.id)).toMatchObject({ state: 'succeeded', attempts: 2 });
      // It works on: with the other worker gone, a new job runs on it.
      other.child.kill('SIGTERM');
      expect(await other.exited).toBe(0);
      const next = await jobs.add('probe', 'echo', 'after the cut');
      expect(await finished(store, next.id, 20_000)).toMatchObject({ state: 'succeeded' });
      expect(cutOff.child.exitCode).toBeNull();
      cutOff.child.kill('SIGTERM');
      expect(await cutOff.exited).toBe(0);
      expect(probeLines(probeFile).filter((l) => l.id === job.id && l.event === 'start').map((l) => l.attempt)).toEqual([1, 2]);
    } finally {
      await proxy.close();
    }
  }, 90_000);
});
