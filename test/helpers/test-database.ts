import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { JobStore } from '../../src/store/job-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import { dropSchema, freshSchema, PGTEST_URL, tempPostgresStore } from './postgres.ts';
import { describeStores, type StoreFactory } from './store-factories.ts';
import { tempDir } from './temp.ts';
import { afterEach } from 'vitest';

/** A database for a test with real processes: the flags that point them at it, and this side's store. */
export interface TestDatabase {
  readonly kind: StoreFactory['name'];
  /** `--set` flags naming the database: `worker.dbpath` (and the schema, on PostgreSQL). */
  readonly args: readonly string[];
  /** The test's own store on it (another process, as far as the workers go); closed after the test. */
  readonly store: JobStore;
  readonly jobs: WorkerService;
  /** A folder for the test's own files (probe logs). */
  readonly dir: string;
  /**
   * Deletes the database as a person clearing every job does (the file and
   * its -wal and -shm; the schema), after closing this side's store.
   */
  drop(): Promise<void>;
  /** A new store of this side on the database as it is now; closed after the test. */
  reopen(): Promise<JobStore>;
}

const opened: SqliteStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

/** A fresh, empty database of `factory`'s kind. */
export async function testDatabase(factory: StoreFactory): Promise<TestDatabase> {
  const dir = tempDir(`${factory.name}-`);
  if (factory.name === 'sqlite') {
    const path = join(dir, 'jobs.db');
    const store = SqliteStore.open({ path });
    opened.push(store);
    return {
      kind: 'sqlite', args: ['--set', `worker.dbpath=${path}`], store, jobs: new WorkerService(store), dir,
      async drop() {
        await store.close();
        for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
      },
      async reopen() {
        const again = SqliteStore.open({ path });
        opened.push(again);
        return again;
      },
    };
  }
  const schema = freshSchema();
  const store = await tempPostgresStore({ schema });
  return {
    kind: 'postgres',
    args: ['--set', `worker.dbpath=${PGTEST_URL}`, '--set', `worker.postgres.schema=${schema}`],
    store,
    jobs: new WorkerService(store),
    dir,
    async drop() {
      await store.close();
      await dropSchema(schema);
    },
    reopen: () => tempPostgresStore({ schema }),
  };
}

export { describeStores };
