import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import { runCliHere } from '../helpers/cli.ts';
import { startMain, workerArgs } from '../helpers/processes.ts';
import { tempDir } from '../helpers/temp.ts';

function fixture() {
  const dbPath = join(tempDir('results-'), 'jobs.db');
  const store = SqliteStore.open({ path: dbPath });
  return { dbPath, store, jobs: new WorkerService(store) };
}

describe('main.ts jobs add --wait, --priority, --key, --tag; jobs show --watch', () => {
  it('waits for a foreground job and prints its result; a failure exits 1', async () => {
    const { dbPath, store } = fixture();
    const worker = startMain(workerArgs(dbPath, '--worker'));
    // The command line runs in this process (see runCliHere); the worker is a process of its own.
    const run = (...args: string[]) => runCliHere(['--set', `worker.dbpath=${dbPath}`, ...args]);
    const ok = await run('jobs', 'add', 'probe', 'echo', '--params', '{"answer":42}', '--wait');
    expect(ok).toMatchObject({ code: 0, stdout: '{\n  "answer": 42\n}\n' });
    const bad = await run('jobs', 'add', 'probe', 'fail', '--params', '{"message":"nope"}', '--attempts', '1', '--wait');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: job \d+ failed: Error: nope\n$/);

    const steps = await run('jobs', 'add', 'probe', 'steps', '--params', '{"steps":3,"ms":40}', '--priority', 'high', '--tag', 'demo', '--tag', 'eu');
    const watched = await run('jobs', 'show', steps.stdout.trim(), '--watch');
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain('note: starting');
    expect(watched.stdout).toMatch(/\[#+\] 100% \(3\/3\)/);
    expect(watched.stdout).toMatch(/^state:\s+succeeded$/m);
    expect(watched.stdout).toMatch(/^tags:\s+demo, eu$/m);

    const tagged = JSON.parse((await run('jobs', 'list', '--tag', 'eu', '--json')).stdout) as { id: number; priority: number; tags: string[] }[];
    expect(tagged).toEqual([expect.objectContaining({ id: Number(steps.stdout), priority: 10, tags: ['demo', 'eu'] })]);

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    await store.close();
  });

  it.each([
    [['--priority', 'urgent'], 'Expected `priority` to be "high", "normal", "low" or an integer, got `urgent`'],
    [['--every', '5', '--key', 'k'], '--key, --tag, --after and --wait apply to one-off jobs'],
  ])('refuses %j', async (flags, message) => {
    const { dbPath, store } = fixture();
    const result = await runCliHere(['--set', `worker.dbpath=${dbPath}`, 'jobs', 'add', 's', 'm', ...flags]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    await store.close();
  });
});

describe('watchers and waits never hold a process open', () => {
  const SCRIPT = fileURLToPath(new URL('../fixtures/watch-and-exit.ts', import.meta.url));
  const run = async (mode: string): Promise<{ code: number | string; line: Record<string, unknown> }> => {
    const path = join(tempDir('watch-'), 'jobs.db');
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, path, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const [code, signal] = await once(child, 'exit') as [number | null, string | null];
    return { code: code ?? signal ?? '?', line: JSON.parse(out.trim()) as Record<string, unknown> };
  };

  it('closing the store rejects a pending result and ends the progress watch: the script exits', async () => {
    expect(await run('close')).toEqual({ code: 0, line: { result: 'rejected ERR_STORE_CLOSED', ended: true } });
  });

  it('a progress watch ends once its job has finished, after its last reports: the script exits', async () => {
    // Reports are coalesced (a watcher gets the latest), so one or both; the last one is never missed.
    const { code, line } = await run('finish');
    expect({ code, result: line.result, ended: line.ended }).toEqual({ code: 0, result: 'resolved done', ended: true });
    expect(line.events).toContain('progress');
  });
});
