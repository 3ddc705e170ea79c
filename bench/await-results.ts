/**
 * `node --import tsx bench/await-results.ts [N]`: an app process adds N no-op jobs with `addMany` and awaits
 * every result with `waitForAll` while a separate worker process (`bench/child.ts ours drain`) runs them.
 * Prints the wall time from the worker's spawn to the last result, and the app process's CPU time: what
 * awaiting many results costs the process that waits (the worker's drain is ~0.3 s of it for 20,000).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore, WorkerService, waitForAll } from '../src/index.ts';

const n = Number(process.argv[2] ?? 20_000);
const dir = mkdtempSync(join(tmpdir(), 'await-results-'));
const store = SqliteStore.open({ path: join(dir, 'jobs.db'), checkpoint: 'background' });
const jobs = new WorkerService(store);
const handles = await jobs.addMany(Array.from({ length: n }, (_, i) => ({ service: 'bench', method: 'noop', params: { i } })));
const cpuBefore = process.cpuUsage();
const start = performance.now();
const worker = spawn(process.execPath, ['--import', 'tsx', 'bench/child.ts', 'ours', 'drain', JSON.stringify({ dir, id: 'await' }), JSON.stringify({ n })], {
  cwd: new URL('..', import.meta.url),
  stdio: ['ignore', 'ignore', 'inherit'],
});
const results = await waitForAll(handles);
const ms = performance.now() - start;
const cpu = process.cpuUsage(cpuBefore);
console.log(`${results.length} results awaited in ${ms.toFixed(0)} ms; the app process used ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms of CPU`);
worker.kill();
await store.close();
rmSync(dir, { recursive: true, force: true });
