/**
 * The jobs page at 1,000,000 jobs: how long the dashboard's first page and
 * its next page take through the real HTTP server (SQLite file, default
 * limit 50, newest first), plus a filtered page and a capped count.
 *
 *   npx tsx bench/web-jobs-page.ts [--jobs 1000000]
 *
 * Prints the median and the worst of 20 requests of each kind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { WorkerService } from '../src/worker/worker-service.ts';
import { startWebServer } from '../plugins/web/web-server.ts';

const count = Number(process.argv[process.argv.indexOf('--jobs') + 1] ?? '') || 1_000_000;
const dir = mkdtempSync(join(tmpdir(), 'web-bench-'));
const store = SqliteStore.open({ path: join(dir, 'jobs.db') });
const now = Date.now();
const started = performance.now();
for (let done = 0; done < count; done += 100_000) {
  const n = Math.min(100_000, count - done);
  await store.addJobs(Array.from({ length: n }, (_, i) => ({
    service: 'svc', method: (done + i) % 10 === 0 ? 'rare' : 'common', params: JSON.stringify({ json: { order: done + i, customer: `c${(done + i) % 5000}` } }),
    runAt: now + 3_600_000, priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: now - (count - done - i), tags: (done + i) % 100 === 0 ? ['hundredth'] : null,
  })));
}
console.log(`added ${count.toLocaleString('en')} jobs in ${((performance.now() - started) / 1000).toFixed(1)} s`);
const server = await startWebServer(
  { port: 0, host: '127.0.0.1', tokens: [], users: [], refreshMs: 2000, bulkBatch: 200, bulkMax: 100_000, workerConcurrency: 10 },
  new WorkerService(store), pino({ level: 'warn' }), 'bench',
);

async function time(path: string): Promise<{ ms: number; body: { next?: number | null; jobs?: unknown[] } }> {
  const t = performance.now();
  const response = await fetch(`${server.url}${path}`);
  const body = await response.json() as { next?: number | null; jobs?: unknown[] };
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return { ms: performance.now() - t, body };
}

async function measure(label: string, path: () => string): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) times.push((await time(path())).ms);
  times.sort((a, b) => a - b);
  console.log(`${label.padEnd(44)} median ${times[10]!.toFixed(1)} ms, worst ${times.at(-1)!.toFixed(1)} ms`);
}

const first = await time('/api/jobs');
await measure('first page (/api/jobs)', () => '/api/jobs');
await measure('next page (/api/jobs?before=…)', () => `/api/jobs?before=${first.body.next}`);
await measure('page 1,000 deep (before = newest − 50,000)', () => `/api/jobs?before=${count - 50_000}`);
await measure('filtered: target=svc.rare', () => '/api/jobs?target=svc.rare');
await measure('filtered: tag=hundredth, next page', () => `/api/jobs?tag=hundredth&before=${count - 10_000}`);
await measure('filtered: q=c4999 (text in params)', () => '/api/jobs?q=c4999');
await measure('count, capped at 10,000 (/api/jobs/count)', () => '/api/jobs/count?state=waiting&x=' + Math.random());
await server.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
