import pg from 'pg';

/**
 * The server every PostgreSQL system of the benchmark uses: database `test` over TCP as user root (trust auth on
 * this machine); `BENCH_PG_URL` overrides it (e.g. `postgres://root@/test?host=/var/run/postgresql` for the local
 * socket; the user name is needed there, as pg takes it from $USER, which may be unset).
 */
export const CONNECTION_STRING = process.env.BENCH_PG_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** Why the server cannot be used (the systems' `unavailable`), or null when a query goes through. */
export async function postgresUnavailable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: CONNECTION_STRING, connectionTimeoutMillis: 2000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    // A socket error code (ECONNREFUSED, ETIMEDOUT…) says it all; otherwise PostgreSQL's own message does.
    return `PostgreSQL is not reachable at ${withoutPassword(CONNECTION_STRING)} (${code !== undefined && /^E[A-Z]+$/.test(code) ? code : message})`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Drops a system's scratch schema (the systems' `cleanup`). */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: CONNECTION_STRING });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

function withoutPassword(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    url.password = '';
    return url.toString();
  } catch {
    return 'the configured connection string';
  }
}
