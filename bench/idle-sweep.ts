/**
 * `node --import tsx bench/idle-sweep.ts [N]`: CPU of an idle worker with retention on, over a table of N recent
 * finished jobs (default 1,000,000) that its pruning sweep reads but may not delete. Run with N = 0 to compare with
 * an empty table. The worker heartbeats, and sweeps, every 10 s (default lease); 30 s are measured.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createLogger, serviceMap, SqliteStore, Worker } from '../src/index.ts';

const n = Number(process.argv[2] ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'idle-sweep-'));
const path = join(dir, 'jobs.db');
const setup = SqliteStore.open({ path });
for (let added = 0; added < n; added += 100_000) {
  const count = Math.min(100_000, n - added);
  await setup.addJobs(Array.from({ length: count }, () => ({ service: 'bench', method: 'noop', params: 'null', priority: 0, runAt: 1, maxAttempts: 1, timeoutMs: null, createdAt: 1 })));
}
await setup.close();
// Finished just now: inside their retention, so the sweep reads every one and deletes none.
const db = new Database(path);
db.prepare(`UPDATE jobs SET state = 2, finished_at = ?, result = 'null'`).run(Date.now());
db.close();

const store = SqliteStore.open({ path, checkpoint: 'background' });
const worker = new Worker({
  store, services: serviceMap({}), logger: createLogger({ level: 'warn', pretty: false }),
  retention: { succeededMs: 7 * 86_400_000, failedMs: 30 * 86_400_000 },
});
worker.start();
await new Promise((resolve) => setTimeout(resolve, 2000));
const cpu = process.cpuUsage();
const start = performance.now();
await new Promise((resolve) => setTimeout(resolve, 30_000));
const used = process.cpuUsage(cpu);
const percent = ((used.user + used.system) / 1000 / (performance.now() - start)) * 100;
console.log(`idle worker, retention on, ${n.toLocaleString('en-US')} finished jobs: ${percent.toFixed(2)}% of a core`);
await worker.stop();
await store.close();
rmSync(dir, { recursive: true, force: true });
