import { rmSync } from 'node:fs';
import { afterEach, describe } from 'vitest';
import type { JobStore } from '../../src/store/job-store.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { dropSchema, postgresSkipReason, tempPostgresStore } from './postgres.ts';
import { tempStore } from './store.ts';

/**
 * One kind of store, as the conformance suite (and the process tests) make
 * it: the same tests run against each, from the same code.
 */
export interface StoreFactory {
  readonly name: 'sqlite' | 'postgres';
  /** Why this store's tests are skipped here, or null. */
  readonly skip: string | null;
  /** A store on a fresh, empty database, closed after the test. */
  open(): Promise<JobStore>;
  /** A second store on the same database as `store`, as another process would open it; closed after the test. */
  openAnother(store: JobStore): Promise<JobStore>;
  /**
   * Deletes `store`'s database and lets another take its place, as a person
   * clearing every job does: the file removed (SQLite), the schema dropped
   * (PostgreSQL). The store makes the new one on its next use.
   */
  replaceDatabase(store: JobStore): Promise<void>;
}

const others: JobStore[] = [];
afterEach(async () => {
  for (const store of others.splice(0)) await store.close();
});

const sqlite: StoreFactory = {
  name: 'sqlite',
  skip: null,
  // checkIntervalMs 0: a replaced file is noticed on the next call, not a second later.
  async open() {
    return tempStore({ checkIntervalMs: 0 });
  },
  async openAnother(store) {
    const other = SqliteStore.open({ path: sqlitePath(store), checkIntervalMs: 0 });
    others.push(other);
    return other;
  },
  async replaceDatabase(store) {
    for (const suffix of ['', '-wal', '-shm']) rmSync(sqlitePath(store) + suffix, { force: true });
  },
};

const postgres: StoreFactory = {
  name: 'postgres',
  skip: postgresSkipReason,
  async open() {
    return tempPostgresStore();
  },
  async openAnother(store) {
    return tempPostgresStore({ schema: postgresStore(store).schema });
  },
  async replaceDatabase(store) {
    await dropSchema(postgresStore(store).schema);
  },
};

function sqlitePath(store: JobStore): string {
  if (!(store instanceof SqliteStore)) throw new TypeError('Expected a SqliteStore');
  return store.path;
}

function postgresStore(store: JobStore): PostgresStore {
  if (!(store instanceof PostgresStore)) throw new TypeError('Expected a PostgresStore');
  return store;
}

/**
 * The stores to test: `STORES` (comma-separated: `sqlite`, `postgres`), by
 * default both. PostgreSQL's are skipped, saying why, when no server answers.
 */
export const storeFactories: readonly StoreFactory[] = (process.env.STORES ?? 'sqlite,postgres')
  .split(',')
  .map((name) => name.trim())
  .filter((name) => name !== '')
  .map((name) => {
    if (name === 'sqlite') return sqlite;
    if (name === 'postgres') return postgres;
    throw new Error(`STORES: unknown store "${name}"; known: sqlite, postgres`);
  });

/** `describe(title)` once per store in {@link storeFactories}, skipped with the reason where the store is unavailable. */
export function describeStores(title: string, body: (factory: StoreFactory) => void): void {
  for (const factory of storeFactories) {
    const name = factory.skip === null ? `${title} [${factory.name}]` : `${title} [${factory.name}: skipped, ${factory.skip}]`;
    describe.skipIf(factory.skip !== null)(name, () => body(factory));
  }
}

/** The factory of store `name`, for a test file of its own (files run in parallel; the describes of one file do not). */
export function factoryNamed(name: StoreFactory['name']): StoreFactory {
  return name === 'sqlite' ? sqlite : postgres;
}

/** `describe(title)` for one store, skipped with the reason where it is unavailable. */
export function describeStore(factory: StoreFactory, title: string, body: () => void): void {
  const name = factory.skip === null ? `${title} [${factory.name}]` : `${title} [${factory.name}: skipped, ${factory.skip}]`;
  describe.skipIf(factory.skip !== null)(name, body);
}
