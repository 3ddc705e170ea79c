import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { DatabaseUnavailableError } from '../../errors.ts';
import { migrate } from './migrate.ts';
import * as sql from './queries.ts';

/** How durable a commit is. See the README: NORMAL in WAL can lose the last commits on a power cut, never on a crash. */
export type Synchronous = 'NORMAL' | 'FULL';

/** Which file a connection has open: a deleted or replaced path has a different (or no) inode. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** Options for {@link openDatabase}. */
export interface OpenOptions {
  readonly synchronous?: Synchronous;
  readonly busyTimeoutMs?: number;
  readonly autocheckpointPages?: number;
}

/** A connection to the file that was at the path when it was opened, with that file's identities. */
export interface OpenedDatabase {
  readonly db: Database.Database;
  /** The inode the connection has open; see {@link identityOf}. */
  readonly identity: FileIdentity;
  /** The random id made with the file (migration 0009). */
  readonly databaseId: string;
}

/** Attempts at opening before giving up: each failed one means the file was deleted or replaced meanwhile. */
const OPEN_TRIES = 20;

/**
 * Opens the job database at `path` (creating it, its folder, and its schema
 * if needed) so that the connection's database file, write-ahead log and
 * shared-memory index all belong together.
 *
 * Why this is not just `new Database(path)`: SQLite finds the WAL and its
 * index by name (`path-wal`, `path-shm`). When the database file is deleted
 * while other processes have it open (the AMsoil way of clearing jobs), its
 * `-wal` and `-shm` stay, still live in those processes; a new file created at
 * the path would be read through the old file's index: "database disk image
 * is malformed", and commits that resolved but are lost. So a missing file is
 * never created in place (see {@link createDatabaseFile}), and an open counts
 * only if the same file was at the path before the connection opened and
 * after it first read through the WAL.
 * @throws DatabaseUnavailableError when the folder cannot be made, or the file keeps changing.
 */
export function openDatabase(path: string, options: OpenOptions = {}): OpenedDatabase {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  for (let tries = 0; tries < OPEN_TRIES; tries++) {
    const before = identityOf(path);
    if (before === undefined) {
      createDatabaseFile(path, busyTimeoutMs);
      continue;
    }
    let db: Database.Database;
    try {
      db = new Database(path, { fileMustExist: true, timeout: busyTimeoutMs });
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CANTOPEN' && identityOf(path) === undefined) continue; // deleted just now
      throw error;
    }
    try {
      // A file made by another tool (or a version before this one) may not be in WAL yet.
      whileBusy(busyTimeoutMs, () => {
        if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
      });
      // The read above went through the WAL and its index: they were opened by name just now.
      if (!sameFile(before, identityOf(path))) {
        db.close();
        continue;
      }
      db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
      // A parent that fails cancels its dependants, whose cancellation cancels theirs: the triggers of flow-triggers.ts fire each other.
      db.pragma('recursive_triggers = ON');
      if (options.autocheckpointPages !== undefined) db.pragma(`wal_autocheckpoint = ${options.autocheckpointPages}`);
      migrate(db);
      const databaseId = db.prepare<[], string>(sql.databaseId).pluck().get()!;
      return { db, identity: before, databaseId };
    } catch (error) {
      db.close();
      throw error;
    }
  }
  throw new DatabaseUnavailableError(`the jobs database ${path} was deleted or replaced ${OPEN_TRIES} times while it was being opened; giving up`);
}

/**
 * Makes a fresh job database at `path`, which is missing: built and
 * migrated under another name, then the stale `-wal`, `-shm` and `-journal`
 * of a deleted file removed, then linked into place, all under a lock that
 * every process creating the file takes (so that none removes the fresh WAL
 * of a file another one just created). link() never replaces a file that
 * appeared meanwhile, and nobody opens a file that is not there, so nobody
 * opens the new file before the old file's leftovers are gone.
 *
 * Processes still running on the deleted file keep writing into their own,
 * unlinked files; they notice at their next commit (see Connection) and
 * come over. SQLite does not delete the new `-wal` when they close the old
 * file: it skips its checkpoint-and-delete on close for a file that has been unlinked.
 */
function createDatabaseFile(path: string, busyTimeoutMs: number): void {
  const folder = dirname(path);
  try {
    mkdirSync(folder, { recursive: true });
  } catch (error) {
    throw new DatabaseUnavailableError(`cannot create the folder of the jobs database ${path}: ${(error as Error).message}`, { cause: error });
  }
  withCreationLock(path, busyTimeoutMs, () => {
    if (identityOf(path) !== undefined) return; // another process made it while we waited
    // Under the lock nobody else is building one: a file of this kind is a crashed creator's.
    const prefix = `${basename(path)}.new-`;
    for (const name of readdirSync(folder)) if (name.startsWith(prefix)) rmSync(join(folder, name), { force: true });
    const temp = `${path}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const db = new Database(temp);
      try {
        db.pragma('journal_mode = WAL');
        // Nobody sees this file before it is complete: one sync of the whole file below, not one per migration.
        db.pragma('synchronous = OFF');
        migrate(db);
      } finally {
        // A clean close checkpoints and deletes the temp file's own -wal and -shm.
        db.close();
      }
      syncFile(temp);
      for (const leftover of ['-wal', '-shm', '-journal']) rmSync(path + leftover, { force: true });
      try {
        linkSync(temp, path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    } finally {
      rmSync(temp, { force: true });
    }
    syncFolder(folder);
  });
}

/**
 * Runs `fn` holding an exclusive lock shared by every process that creates
 * the job database at `path`: SQLite's own file lock on a small lock
 * database next to it, so it is released if the holder dies. Hidden, so
 * that `rm deploy/worker.db*` does not take it away from a holder. A
 * process waiting for the lock looks at the path every couple of
 * milliseconds and gives up waiting as soon as the file is there (the holder
 * made it): SQLite's own busy handler would sleep up to 100 ms at a time.
 */
function withCreationLock(path: string, busyTimeoutMs: number, fn: () => void): void {
  const lock = new Database(join(dirname(path), `.${basename(path)}.lock`), { timeout: 0 });
  try {
    const deadline = Date.now() + busyTimeoutMs;
    for (;;) {
      try {
        lock.exec('BEGIN EXCLUSIVE');
        break;
      } catch (error) {
        if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
        if (identityOf(path) !== undefined) return;
        if (Date.now() > deadline) throw new DatabaseUnavailableError(`timed out waiting for another process to create the jobs database ${path}`, { cause: error });
        // Opening is synchronous (better-sqlite3): a short blocking pause is the honest way to wait here.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
      }
    }
    try {
      fn();
    } finally {
      lock.exec('COMMIT');
    }
  } finally {
    lock.close();
  }
}

/** The link into a folder survives a power cut only once the folder is synced. */
function syncFolder(folder: string): void {
  try {
    syncFile(folder);
  } catch {
    // Some file systems refuse to sync a folder; the link is then as durable as they make it.
  }
}

function syncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The file now at `path`, or undefined if there is none. */
export function identityOf(path: string): FileIdentity | undefined {
  const stat = statSync(path, { throwIfNoEntry: false });
  return stat === undefined ? undefined : { dev: stat.dev, ino: stat.ino };
}

/**
 * Whether two identities are the same file. While a connection holds its file
 * open, no other file can get its inode number, so for that file this is exact.
 */
export function sameFile(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
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
