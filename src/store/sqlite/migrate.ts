import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';
import { SchemaTooNewError } from '../../errors.ts';

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

/**
 * Applies the migrations the database has not recorded yet. Each runs in a
 * `BEGIN IMMEDIATE` transaction that re-reads what is applied, so processes
 * starting together on a fresh file cannot apply one twice. Running it again is harmless.
 * @returns the versions applied by this call.
 * @throws SchemaTooNewError if the file records a migration newer than the last of `migrations`.
 */
export function migrate(db: Database, migrations: readonly Migration[] = loadMigrations()): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  // An older scheduler on a file a newer one migrated (a rolling deploy) would run its SQL on tables it does not know.
  const newest = db.prepare<[], number | null>('SELECT max(version) FROM schema_migrations').pluck().get() ?? null;
  const known = migrations.at(-1)?.version ?? 0;
  if (newest !== null && newest > known) throw new SchemaTooNewError(db.name, newest, known);
  const applied: number[] = [];
  const isApplied = db.prepare<[number], { version: number }>('SELECT version FROM schema_migrations WHERE version = ?');
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of migrations) {
    db.transaction(() => {
      if (isApplied.get(migration.version) !== undefined) return;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, Date.now());
      applied.push(migration.version);
    }).immediate();
  }
  return applied;
}
