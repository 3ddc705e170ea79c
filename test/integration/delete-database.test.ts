import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { probeLines, startMain, workerArgs } from '../helpers/processes.ts';
import { tempDir } from '../helpers/temp.ts';

const ADD_LOOP = fileURLToPath(new URL('../fixtures/add-loop.ts', import.meta.url));

/** A line the add loop printed: a resolved add (`id`, `database`), or an add that rejected (`error`). */
interface AddLine {
  readonly n: number;
  readonly id?: number;
  readonly database?: string;
  readonly at?: number;
  readonly error?: string;
}

describe('deleting the database the AMsoil way, while an app adds and a worker runs', () => {
  it.each([
    ['worker.db alone', ['']],
    ['worker.db with its -wal and -shm', ['', '-wal', '-shm']],
  ])('%s: a sound new file, every add that resolved afterwards in it, each run once', async (_, suffixes) => {
    const dir = tempDir('rm-');
    const dbPath = join(dir, 'worker.db');
    const probeFile = join(dir, 'runs.log');
    const worker = startMain(workerArgs(dbPath, '--worker', '--set', `probe.file=${probeFile}`));
    await worker.waitForLog((l) => l.msg === 'worker started');
    const app = startMain([dbPath, '10'], { command: [process.execPath, '--import', 'tsx', ADD_LOOP] });
    const added = (): AddLine[] => app.logs().filter((l) => 'n' in l) as unknown as AddLine[];
    await expect.poll(() => added().length, { timeout: 10_000, interval: 10 }).toBeGreaterThanOrEqual(20);

    for (const suffix of suffixes) rmSync(dbPath + suffix, { force: true });
    const removedAt = Date.now();
    await expect.poll(() => added().filter((l) => (l.at ?? 0) > removedAt).length, { timeout: 10_000, interval: 10 }).toBeGreaterThanOrEqual(30);
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);

    const lines = added();
    expect(lines.filter((l) => l.error !== undefined)).toEqual([]);
    // An add that resolved after the delete was checked after its commit: it is in the new file.
    const late = lines.filter((l) => l.at! > removedAt + 20);
    const database = late[0]!.database!;
    expect(late.every((l) => l.database === database)).toBe(true);
    const inNew = lines.filter((l) => l.database === database);
    const store = SqliteStore.open({ path: dbPath });
    await expect.poll(async () => (await store.listJobs({ state: 'succeeded', limit: 10_000 })).length, { timeout: 15_000, interval: 50 }).toBe(inNew.length);
    for (const line of inNew) {
      // Its own params and its own result: no outcome of a job of the deleted file landed on it.
      expect(await store.getJob(line.id!)).toMatchObject({ params: `{"json":{"n":${line.n}}}`, state: 'succeeded', result: `{"json":{"n":${line.n}}}`, database });
    }
    const marks = probeLines(probeFile).map((l) => l.event);
    for (const line of inNew) expect(marks.filter((event) => event === `mark:${line.n}`)).toHaveLength(1);
    await store.close();

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.logs().filter((l) => (l.level as number) >= 50)).toEqual([]);
    const db = new Database(dbPath, { readonly: true });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });
});
