import { fork } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { JobRecord } from '../../src/store/job-store.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import { PROJECT_ROOT, probeLines, startMain, workerArgs, type MainProcess } from '../helpers/processes.ts';
import { tempDir } from '../helpers/temp.ts';

/*
 * Ctrl-C as a person presses it: SIGINT to the terminal's whole foreground
 * process group, whatever launched the worker (npm and npx/tsx forward their
 * copy too). Each launcher is tried several times, at once, each worker on
 * a database of its own.
 */

const MAIN = `${PROJECT_ROOT}main.ts`;
const LAUNCHERS: Record<string, readonly string[]> = {
  'node … main.ts --worker': [process.execPath, '--import', 'tsx', MAIN],
  'npx tsx main.ts --worker': ['npx', 'tsx', MAIN],
  // npm run worker is `node --import tsx main.ts --worker`; what follows `--` is passed on.
  'npm run worker': ['npm', 'run', '--silent', 'worker', '--'],
};
const TRIES = 3;

async function finished(store: SqliteStore, id: number, timeout = 20_000): Promise<JobRecord> {
  await expect.poll(async () => (await store.getJob(id))?.state, { timeout, interval: 25 }).toMatch(/^(succeeded|failed|cancelled)$/);
  return (await store.getJob(id))!;
}

/** A worker started by `launcher` in a process group of its own, running one job that takes `ms`. */
async function workerWithAJob(launcher: readonly string[], ms: number): Promise<{ worker: MainProcess; store: SqliteStore; id: number; probeFile: string }> {
  const dir = tempDir('signal-');
  const dbPath = join(dir, 'jobs.db');
  const probeFile = join(dir, 'runs.log');
  const args = workerArgs(dbPath, '--set', `probe.file=${probeFile}`);
  const worker = startMain(launcher[0] === process.execPath ? ['--worker', ...args] : ['--worker', ...args], { command: launcher, detached: true });
  const store = SqliteStore.open({ path: dbPath });
  await worker.waitForLog((l) => l.msg === 'worker started', 20_000);
  const { id } = await new WorkerService(store).add('probe', 'linger', { ms }, { maxAttempts: 1 });
  await expect.poll(async () => (await store.getJob(id))?.state, { timeout: 10_000, interval: 10 }).toBe('running');
  return { worker, store, id, probeFile };
}

describe('Ctrl-C, as a terminal sends it to the whole process group', () => {
  it.each(Object.entries(LAUNCHERS))('%s: one press finishes the running job and exits 0, every time', async (_, launcher) => {
    await Promise.all(Array.from({ length: TRIES }, async () => {
      const { worker, store, id, probeFile } = await workerWithAJob(launcher, 700);
      process.kill(-worker.child.pid!, 'SIGINT');
      // npm and npx wait for the worker, then end themselves by the signal they got (as a shell expects of them).
      expect([0, 'SIGINT']).toContain(await worker.exited);
      // The supervisor and its worker process each say how they ended.
      expect(worker.logs().filter((l) => String(l.msg).startsWith('stopped; exit status')).map((l) => `${String(l.role)} ${String(l.exitCode)}`).sort())
        .toEqual(['supervisor 0', 'worker 0']);
      expect(await store.getJob(id)).toMatchObject({ state: 'succeeded', attempts: 1 });
      expect(probeLines(probeFile).filter((line) => line.event === 'start')).toHaveLength(1);
      expect(worker.stderr()).not.toMatch(/ERR_IPC_CHANNEL_CLOSED|Error/);
      expect(worker.logs().filter((l) => String(l.msg).startsWith('second stop request'))).toEqual([]);
      await store.close();
    }));
  });

  it('a later, second press hands the running job back at once (waiting, its attempt not counted) and exits 130', async () => {
    const { worker, store, id } = await workerWithAJob(LAUNCHERS['node … main.ts --worker']!, 60_000);
    process.kill(-worker.child.pid!, 'SIGINT');
    await worker.waitForLog((l) => String(l.msg).startsWith('shutting down'));
    await new Promise((resolve) => setTimeout(resolve, 1200)); // past the window in which copies of one press count once
    process.kill(-worker.child.pid!, 'SIGINT');
    expect(await worker.exited).toBe(130);
    expect(worker.logs().filter((l) => String(l.msg).startsWith('stopped; exit status')).map((l) => `${String(l.role)} ${String(l.exitCode)}`).sort())
      .toEqual(['supervisor 130', 'worker 130']);
    expect(await store.getJob(id)).toMatchObject({ state: 'waiting', attempts: 0, leaseOwner: null });
    await store.close();
  });

  it('a worker process whose supervisor is gone finishes its job and exits; nothing is left running', async () => {
    const { worker, store, id } = await workerWithAJob(LAUNCHERS['node … main.ts --worker']!, 700);
    const child = worker.logs().find((l) => l.msg === 'worker started')!.pid as number;
    worker.child.kill('SIGKILL'); // the supervisor only: its IPC channel to the child closes
    expect(await finished(store, id)).toMatchObject({ state: 'succeeded', attempts: 1 });
    await expect.poll(() => {
      try {
        process.kill(child, 0);
        return 'alive';
      } catch {
        return 'gone';
      }
    }, { timeout: 10_000 }).toBe('gone');
    await store.close();
  });
});

describe('a worker process that loses its supervisor', () => {
  it('stops by itself when the supervisor died before it had finished loading', async () => {
    const dir = tempDir('orphan-');
    // As the supervisor forks it; the channel is closed at once, long before the child has loaded its modules.
    const child = fork(MAIN, ['--worker', ...workerArgs(join(dir, 'jobs.db')), '--worker-child'], {
      execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.disconnect();
    const ended = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'none')));
    // Before the fix it ran on as a worker for good: a bound, not a wait for a timer.
    const code = await Promise.race([ended, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 20_000))]);
    if (code === 'still running') child.kill('SIGKILL');
    expect(code).toBe(0);
    expect(out).toContain('lost the supervisor (its IPC channel closed): stopping');
  });
});
