import { join } from 'node:path';
import { afterEach } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { NewJob } from '../../src/store/job-store.ts';
import { tempDir } from './temp.ts';

const open: SqliteStore[] = [];

/** A store on a fresh file in a temp folder, closed after the test. */
export function tempStore(options: { checkIntervalMs?: number; checkpoint?: 'inline' | 'background' } = {}): SqliteStore {
  const store = SqliteStore.open({ path: join(tempDir('store-'), 'jobs.db'), ...options });
  open.push(store);
  return store;
}

afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
});

/** A job row with defaults; override what the test is about. */
export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return { service: 'svc', method: 'run', params: '{"json":null}', runAt: 1000, priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: 1000, ...overrides };
}
