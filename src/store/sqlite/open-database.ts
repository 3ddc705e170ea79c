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
export function openDatabase(path: string, options: { synchronous?: Synchronous; busyTimeoutMs?: number; autocheckpointPages?: number } = {}): {
  db: Database.Database;
  identity: FileIdentity;
} {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    // Two processes opening a new file at once (the app and the worker on a fresh machine): switching
    // to WAL needs the file to itself, and SQLite answers "database is locked" there without waiting.
    whileBusy(busyTimeoutMs, () => {
      if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
    });
    db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
    if (options.autocheckpointPages !== undefined) db.pragma(`wal_autocheckpoint = ${options.autocheckpointPages}`);
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

/** Runs `fn`, again and again while SQLite says the file is busy, for up to `timeoutMs`. */
function whileBusy(timeoutMs: number, fn: () => void): void {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    try {
      fn();
      return;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if ((code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') || Date.now() + delay > deadline) throw error;
      // Opening is synchronous (better-sqlite3); a short blocking pause is the honest way to wait here.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, delay);
    }
  }
}
