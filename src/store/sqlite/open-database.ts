import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrate.ts';

/** How durable a commit is. See the README: NORMAL in WAL can lose the last commits on a power cut, never on a crash. */
export type Synchronous = 'NORMAL' | 'FULL';

/** Which file a connection has open: a deleted or replaced path has a different (or no) inode. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** Opens (creating the folder and file if needed) and migrates a job database. */
export function openDatabase(path: string, options: { synchronous?: Synchronous; busyTimeoutMs?: number } = {}): {
  db: Database.Database;
  identity: FileIdentity;
} {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    // The busy timeout comes first: setting WAL on a fresh file can itself meet a lock.
    db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
    migrate(db);
    return { db, identity: identityOf(path) ?? { dev: -1, ino: -1 } };
  } catch (error) {
    db.close();
    throw error;
  }
}

/** The file now at `path`, or undefined if there is none. */
export function identityOf(path: string): FileIdentity | undefined {
  try {
    const stat = statSync(path);
    return { dev: stat.dev, ino: stat.ino };
  } catch {
    return undefined;
  }
}
