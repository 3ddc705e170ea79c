import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { outsideprocess } from '../../src/worker/outsideprocess.ts';
import { serviceMap } from '../../src/worker/resolve-target.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import { Worker } from '../../src/worker/worker.ts';
import { memoryLogger } from '../helpers/logger.ts';
import { newJob } from '../helpers/store.ts';
import { tempDir } from '../helpers/temp.ts';

/*
 * Deleting the database while processes run (AMsoil's way of clearing jobs,
 * issue 14). Two stores on one path stand for two processes: each has its
 * own connection, and neither re-checks the path on reads here (a minute
 * apart), so only the checks that go with writes can save them.
 */

function twoProcesses(): { path: string; a: SqliteStore; b: SqliteStore; close: () => Promise<void> } {
  const path = join(tempDir('delete-'), 'worker.db');
  const a = SqliteStore.open({ path, checkIntervalMs: 60_000 });
  const b = SqliteStore.open({ path, checkIntervalMs: 60_000 });
  return { path, a, b, close: async () => { await a.close(); await b.close(); } };
}

function integrity(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

describe('deleting the database while processes run', () => {
  it.each([
    ['worker.db alone', ['']],
    ['worker.db with its -wal and -shm', ['', '-wal', '-shm']],
  ])('%s: every add made afterwards, by any process, is in one sound new file', async (_, suffixes) => {
    const { path, a, b, close } = twoProcesses();
    const old = await a.addJob(newJob({ params: '"old"' }));
    await b.addJob(newJob({ params: '"old b"' }));
    for (const suffix of suffixes) rmSync(path + suffix, { force: true });

    const added: { id: number; database: string }[] = [];
    for (let i = 0; i < 20; i++) added.push(await (i % 2 === 0 ? a : b).addJob(newJob({ params: `"${i}"` })));
    added.push(...(await a.addJobs([newJob({ params: '"bulk a"' })])).ids.map((id) => ({ id, database: added[0]!.database })));
    // Concurrent adds share a commit: the whole group is made again.
    added.push(...await Promise.all([b.addJob(newJob({ params: '"c1"' })), b.addJob(newJob({ params: '"c2"' }))]));

    const database = added[0]!.database;
    expect(database).not.toBe(old.database);
    expect(added.every((job) => job.database === database)).toBe(true);
    await close();
    expect(integrity(path)).toBe('ok');
    const db = new Database(path, { readonly: true });
    const params = db.prepare<[], string>('SELECT params FROM jobs ORDER BY id').pluck().all();
    db.close();
    expect(params).toEqual([...Array.from({ length: 20 }, (_, i) => `"${i}"`), '"bulk a"', '"c1"', '"c2"']);
  });

  it('never records an outcome from before the delete on the job that got its id in the new file', async () => {
    const { path, a, b, close } = twoProcesses();
    await a.addJob(newJob());
    const [oldJob] = await a.claim({ owner: 'w', limit: 1, now: 2000, isolated: 'skip' });
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    const fresh = await b.addJob(newJob({ params: '"new"' }));
    expect(fresh.id).toBe(oldJob!.id); // ids start at 1 again in a new file
    const [newJob1] = await b.claim({ owner: 'w', limit: 1, now: 2000, isolated: 'skip' });
    expect(newJob1).toMatchObject({ id: fresh.id, attempt: 1 });

    // The worker still runs the old job 1; same owner, same id, same attempt: only the database tells them apart.
    expect(await a.complete([{ ...oldJob!, owner: 'w', outcome: 'succeeded', result: '"old result"', at: 3000 }])).toEqual({ refused: [], gone: [oldJob!.id] });
    expect(await b.getJob(fresh.id)).toMatchObject({ state: 'running', result: null });
    expect(await a.heartbeat('w', [oldJob!, newJob1!], 3000)).toEqual([oldJob]);
    await a.release('w', [oldJob!], 3000);
    expect(await b.getJob(fresh.id)).toMatchObject({ state: 'running', attempts: 1 });
    await close();
  });

  it('rejects a handle from before the delete instead of resolving with the new job of its id', async () => {
    const { path, a, b, close } = twoProcesses();
    const app = new WorkerService(a);
    const handle = await app.add('svc', 'echo', 'before');
    const waiting = handle.result();
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    // Another process adds to the new file; a worker runs its job 1.
    const other = await new WorkerService(b).add('svc', 'echo', 'after');
    expect(other.id).toBe(handle.id);
    const worker = new Worker({ store: b, services: serviceMap({ svc: { echo: outsideprocess(async (p: unknown) => p) } }), logger: memoryLogger().logger });
    worker.start();
    expect(await other.result()).toBe('after');
    await worker.stop();
    // The app's store learns of the new file at its next write.
    await app.add('svc', 'echo', 'nudge');
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_DATABASE_REPLACED', message: `job ${handle.id} is gone: the jobs database (${path}) was deleted or replaced since` });
    await expect((await app.getJob(handle.id)).result()).resolves.toBe('after'); // by id, in the database as it is now
    await close();
  });

  it('logs an outcome refused because the database was deleted as that, not as a job another worker took back', async () => {
    const { path, a, b, close } = twoProcesses();
    let finish = (): void => {};
    const svc = { wait: outsideprocess(() => new Promise<string>((resolve) => { finish = () => resolve('done'); })) };
    const { logger, lines } = memoryLogger();
    // A long lease: no heartbeat comes between the delete and the outcome to drop the job first.
    const worker = new Worker({ store: a, services: serviceMap({ svc }), logger, leaseMs: 600_000 });
    const { id } = await new WorkerService(a).add('svc', 'wait', null);
    worker.start();
    await expect.poll(async () => (await a.getJob(id))?.state).toBe('running');
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    await b.addJob(newJob()); // the new file, made by another process
    finish();
    await expect.poll(() => lines().filter((l) => (l.level as number) === 40).map((l) => l.msg)).toContain('outcome not recorded: the jobs database these jobs came from was deleted since');
    await worker.stop(0);
    const refusal = lines().find((l) => String(l.msg).startsWith('outcome not recorded'))!;
    expect(refusal.jobIds).toEqual([id]);
    expect(lines().filter((l) => /took these jobs back|no longer holds the lease|taken over/.test(String(l.msg)))).toEqual([]);
    await close();
  });

  it('creates a missing file whole: never a half-made file at the path, and no leftovers', async () => {
    const folder = tempDir('create-');
    const path = join(folder, 'nested', 'worker.db');
    const stores = Array.from({ length: 4 }, () => SqliteStore.open({ path }));
    const ids = await Promise.all(stores.map((store) => store.addJob(newJob())));
    expect(new Set(ids.map((added) => added.database)).size).toBe(1);
    for (const store of stores) await store.close();
    expect(integrity(path)).toBe('ok');
    expect(existsSync(join(folder, 'nested', '.worker.db.lock'))).toBe(true);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(join(folder, 'nested')).filter((name) => name.includes('.new-'))).toEqual([]);
  });
});
