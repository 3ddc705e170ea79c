/**
 * What awaiting many results costs the process that waits. Two ways, each with N jobs (default 20,000):
 *
 * - `node --import tsx bench/await-results.ts N`: an app process adds N no-op jobs with `addMany` and awaits
 *   every result with `waitForAll` while a separate worker process (`bench/child.ts ours drain`) runs them.
 *   Prints the wall time from the worker's spawn to the last result and the app process's CPU time (the
 *   worker's drain is ~0.3 s of it for 20,000).
 * - `node --import tsx bench/await-results.ts N pending`: the app awaits N jobs due in an hour while another
 *   process adds a job every 2 ms (each commit a change signal to look again). Prints the app's CPU as a
 *   share of a core.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore, WorkerService, waitForAll } from '../src/index.ts';

const n = Number(process.argv[2] ?? 20_000);
const pending = process.argv[3] === 'pending';
const dir = mkdtempSync(join(tmpdir(), 'await-results-'));
const store = SqliteStore.open({ path: join(dir, 'jobs.db'), checkpoint: 'background' });
const jobs = new WorkerService(store);
const runAt = pending ? new Date(Date.now() + 3_600_000) : undefined;
const handles = await jobs.addMany(Array.from({ length: n }, (_, i) => ({ service: 'bench', method: 'noop', params: { i }, ...(runAt === undefined ? {} : { runAt }) })));
const child = (role: string, args: object) => spawn(process.execPath, ['--import', 'tsx', 'bench/child.ts', 'ours', role, JSON.stringify({ dir, id: 'await' }), JSON.stringify(args)], {
  cwd: new URL('..', import.meta.url),
  stdio: ['ignore', 'ignore', 'inherit'],
});

if (pending) {
  const giveUp = new AbortController();
  const waiting = waitForAll(handles, { signal: giveUp.signal }).catch(() => undefined);
  const adder = child('latency-adder', { n: 1500, intervalMs: 2 });
  await new Promise((resolve) => setTimeout(resolve, 1000)); // the adder's start-up
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  await once(adder, 'exit');
  const cpu = process.cpuUsage(cpuBefore);
  const ms = performance.now() - start;
  console.log(`${n} jobs awaited: the app process used ${((100 * (cpu.user + cpu.system)) / 1000 / ms).toFixed(1)}% of a core over ${(ms / 1000).toFixed(1)} s of another process's commits`);
  giveUp.abort();
  await waiting;
} else {
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  const worker = child('drain', { n });
  const results = await waitForAll(handles);
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  console.log(`${results.length} results awaited in ${ms.toFixed(0)} ms; the app process used ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms of CPU`);
  worker.kill();
}
await store.close();
rmSync(dir, { recursive: true, force: true });
