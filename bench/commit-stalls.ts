/**
 * `node --import tsx bench/commit-stalls.ts [inline|background]`: how long single-job adds block the event loop,
 * with SQLite's checkpoints inline (on the committing connection) or on the background thread. 6,000 adds of a
 * ~250-byte job, a short pause every 10; prints the distribution of add times. The long tail is checkpoints.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../src/index.ts';

const mode = process.argv[2] === 'inline' ? 'inline' : 'background';
const dir = mkdtempSync(join(tmpdir(), 'stalls-'));
const store = SqliteStore.open({ path: join(dir, 'jobs.db'), checkpoint: mode });
const times: number[] = [];
const now = Date.now();
for (let i = 0; i < 6000; i++) {
  const start = performance.now();
  await store.addJob({ service: 's', method: 'm', params: `{"json":{"i":${i},"pad":"${'x'.repeat(200)}"}}`, runAt: now, priority: 0, maxAttempts: 1, timeoutMs: null, createdAt: now });
  times.push(performance.now() - start);
  if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
}
await store.close();
rmSync(dir, { recursive: true, force: true });
times.sort((a, b) => a - b);
const at = (q: number): string => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2);
const over = (ms: number): number => times.filter((t) => t > ms).length;
console.log(`${mode}: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, p99.9 ${at(0.999)} ms, max ${at(1)} ms; adds over 1 ms: ${over(1)}, over 5 ms: ${over(5)}`);
