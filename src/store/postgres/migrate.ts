import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { InvalidArgumentError, SchemaTooNewError } from '../../errors.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));

/** A numbered schema change, e.g. `0001_initial.sql`. Append-only: never edit one that has shipped. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** The migrations shipped with this version, in order. */
export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((file) => /^\d+_[\w-]+\.sql$/.test(file))
    .map((file) => ({ version: Number.parseInt(file, 10), name: file, sql: readFileSync(dir + file, 'utf8') }))
    .sort((a, b) => a.version - b.version);
}

/** `name` as a quoted SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Refuses a schema name that is not a plain identifier of at most 63 bytes (PostgreSQL would cut it silently). */
export function checkSchemaName(schema: string): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new InvalidArgumentError(`Expected the PostgreSQL schema name to be letters, digits and underscores (at most 63, not starting with a digit), got \`${schema}\``);
  }
}

/**
 * Creates the schema if it is missing and applies the migrations it has not
 * recorded, all in one transaction under an advisory lock keyed by the
 * schema name, so processes starting together on several hosts cannot
 * apply one twice or see half a schema. Running it again is harmless.
 * @returns the versions applied by this call.
 * @throws SchemaTooNewError if the schema records a migration newer than the last of `migrations`
 *   (an older scheduler in a rolling deploy would run its SQL on tables it does not know).
 */
export async function migrate(client: pg.ClientBase, schema: string, description: string, migrations: readonly Migration[] = loadMigrations()): Promise<number[]> {
  checkSchemaName(schema);
  const q = quoteIdent(schema);
  await client.query('BEGIN');
  try {
    // Not waiting for the WAL flush: a migration lost in a crash is applied again at the next start.
    await client.query('SET LOCAL synchronous_commit TO off');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`amsoil-scheduler migrate ${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${q}`);
    // The migration files use unqualified names; SET LOCAL ends with the transaction.
    await client.query(`SET LOCAL search_path TO ${q}`);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text    NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ newest: number | null }>('SELECT max(version) AS newest FROM schema_migrations');
    const newest = rows[0]?.newest ?? null;
    const known = migrations.at(-1)?.version ?? 0;
    if (newest !== null && newest > known) throw new SchemaTooNewError(description, newest, known);
    const applied: number[] = [];
    for (const migration of migrations) {
      if (newest !== null && migration.version <= newest) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
