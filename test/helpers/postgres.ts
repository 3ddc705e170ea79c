import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach } from 'vitest';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/postgres-store.ts';

/**
 * The PostgreSQL server tests use: `PGTEST_URL`, by default the machine's
 * local server as its superuser (trust auth on this machine's kind).
 */
export const PGTEST_URL = process.env.PGTEST_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Why PostgreSQL tests cannot run here, or null when the server answers. Asked once per test file. */
export const postgresSkipReason: string | null = await probe(PGTEST_URL);

async function probe(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    const reason = `no PostgreSQL server reachable at ${url} (${code ?? message}); set PGTEST_URL to one`;
    console.warn(`PostgreSQL tests skipped: ${reason}`);
    return reason;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Runs `sql` on a connection of its own, outside any store. */
export async function adminQuery(sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: PGTEST_URL });
  client.on('error', () => {});
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

const schemas: string[] = [];
const stores: PostgresStore[] = [];

/**
 * A fresh schema name for one test: dropped after the test if it passed,
 * kept (and named on stderr) if it failed, as evidence.
 */
export function freshSchema(): string {
  const name = `test_${randomBytes(6).toString('hex')}`;
  schemas.push(name);
  return name;
}

/** A store on a fresh schema (or on `options.schema`), closed after the test. Short timeouts: tests must not wait long. */
export async function tempPostgresStore(options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  const store = await PostgresStore.open({ url: PGTEST_URL, schema: options.schema ?? freshSchema(), connectTimeoutMs: 3000, pollIntervalMs: 200, ...options });
  stores.push(store);
  return store;
}

/** Drops `schema` now (what a person does to clear every job: README). */
export async function dropSchema(schema: string): Promise<void> {
  await adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

afterEach(async (context) => {
  for (const store of stores.splice(0)) await store.close();
  const failed = context.task.result?.state === 'fail';
  for (const schema of schemas.splice(0)) {
    if (failed) console.error(`kept PostgreSQL schema ${schema} at ${PGTEST_URL} for inspection`);
    else await dropSchema(schema);
  }
});
