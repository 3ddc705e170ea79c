import type { Database } from 'better-sqlite3';
import type { StoreChange } from '../job-store.ts';
import { ChangeMonitor, type ChangeSignal } from './change-monitor.ts';
import { BackgroundCheckpointer, SAFETY_NET_CHECKPOINT_PAGES } from './checkpointer.ts';
import { identityOf, openDatabase, type FileIdentity } from './open-database.ts';
import type { SqliteStoreOptions } from './sqlite-store.ts';
import { Statements } from './statements.ts';

/** One opening of the file at the store's path: the connection, which file it is, and the statements prepared on it. */
interface OpenFile {
  readonly db: Database;
  readonly identity: FileIdentity;
  readonly stmts: Statements;
}

function openFile(path: string, options: SqliteStoreOptions): OpenFile {
  const autocheckpointPages = options.checkpoint === 'background' ? SAFETY_NET_CHECKPOINT_PAGES : undefined;
  const { db, identity } = openDatabase(path, { ...options, ...(autocheckpointPages === undefined ? {} : { autocheckpointPages }) });
  return { db, identity, stmts: new Statements(db) };
}

/**
 * Owns a {@link SqliteStore}'s better-sqlite3 connection. If the database
 * file is deleted or replaced while it is open (the AMsoil way of clearing
 * jobs), it notices within `checkIntervalMs`, logs it, and reopens the path,
 * so it never keeps writing into an unlinked file. The connection and its
 * statements change when that happens: ask for them on every use, never keep them.
 *
 * It also tells listeners when the store may have changed: other processes'
 * commits through `data_version`, this process's writes through {@link changedHere}.
 */
export class Connection {
  readonly path: string;
  readonly #options: SqliteStoreOptions;
  readonly #checkIntervalMs: number;
  #recheck: NodeJS.Timeout | undefined;
  readonly #listeners = new Set<(change: StoreChange) => void>();
  /** This turn's changes through {@link changedHere}; a new array each turn (see {@link changedHere}). */
  #localChanges: StoreChange[] = [];
  readonly #monitor: ChangeMonitor;
  readonly #checkpointer: BackgroundCheckpointer | undefined;
  #file: OpenFile;
  #dataVersion: number;
  #lastIdentityCheck = Date.now();
  #closed = false;

  constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.#options = options;
    this.#checkIntervalMs = options.checkIntervalMs ?? 1000;
    this.#file = openFile(options.path, options);
    this.#dataVersion = this.#readDataVersion();
    this.#monitor = new ChangeMonitor(options.path, (signal) => this.#check(signal), this.#checkIntervalMs);
    this.#checkpointer = options.checkpoint === 'background'
      ? new BackgroundCheckpointer(options.path, options.logger === undefined ? {} : { logger: options.logger })
      : undefined;
  }

  /** The connection as open now, without checking the file: for diagnostics. */
  get db(): Database {
    return this.#file.db;
  }

  /** The statements of the file now at the path, reopening it first if it is no longer the one open. */
  statements(): Statements {
    // Only another process's commit moves data_version, so a reopen noticed here is told to listeners here.
    if (this.#ensureCurrentFile(this.#checkIntervalMs)) this.changedHere('any');
    return this.#file.stmts;
  }

  /**
   * Runs `fn` in one `BEGIN IMMEDIATE` transaction on the file now at the
   * path. better-sqlite3 is synchronous: `fn` runs to completion inside this
   * call, so it must not be async (no transaction is held across an `await`).
   */
  transaction<T>(fn: (s: Statements) => T): T {
    const s = this.statements();
    const { db } = this.#file;
    if (db.inTransaction) return db.transaction(() => fn(s)).immediate(); // nested: the outer one settles
    s.settle(false);
    let result: T;
    try {
      result = db.transaction(() => fn(s)).immediate();
    } catch (error) {
      s.settle(false);
      throw error;
    }
    s.settle(true);
    return result;
  }

  /** See {@link JobStore.onChange}. */
  onChange(listener: (change: StoreChange) => void): () => void {
    this.#listeners.add(listener);
    this.#monitor.start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#monitor.stop();
    };
  }

  /**
   * A write through this connection that may make work due or finish jobs
   * (or a reopened file). `data_version` only reports other connections'
   * commits, so a worker sharing this store (embedded use, tests) is told
   * here. Coalesced to one call per turn.
   */
  changedHere(change: StoreChange): void {
    if (this.#listeners.size === 0 || this.#localChanges.includes(change)) return;
    if (this.#localChanges.length === 0) {
      setImmediate(() => {
        // Swapped, not cleared: a long-lived Set's clear() links its old table to the new one, and such
        // chains outlive young-generation GCs (see RunningAttempts); this runs once per turn that writes.
        const changes = this.#localChanges;
        this.#localChanges = [];
        for (const listener of this.#listeners) for (const c of changes) listener(c);
      });
    }
    this.#localChanges.push(change);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#recheck);
    this.#monitor.stop();
    this.#checkpointer?.close();
    this.#listeners.clear();
    this.#file.db.close();
  }

  /**
   * Runs on change signals and on the fallback timer. A commit's signal
   * (`wal`, every commit of a busy worker, its own included) reads
   * `data_version` only, and so does its re-check; whether the file was
   * replaced is looked at on `file` and `timer` signals, and at most once per
   * check interval otherwise. `timer` and `recheck` schedule no re-check.
   */
  #check(signal: ChangeSignal | 'recheck'): void {
    if (this.#closed) return;
    let reopened: boolean;
    let version: number;
    try {
      reopened = this.#ensureCurrentFile(signal === 'wal' || signal === 'recheck' ? this.#checkIntervalMs : 0);
      version = this.#readDataVersion();
    } catch (error) {
      // This runs from a timer, where a throw would end the process. The next check or request tries again.
      this.#options.logger?.error({ err: error, path: this.path }, 'could not check or reopen the database file');
      return;
    }
    if (reopened || version !== this.#dataVersion) {
      this.#dataVersion = version;
      for (const listener of this.#listeners) listener('any');
    } else if ((signal === 'wal' || signal === 'file') && this.#recheck === undefined) {
      // A writer's -wal event can come just before its commit is visible; look once more, shortly.
      this.#recheck = setTimeout(() => {
        this.#recheck = undefined;
        this.#check('recheck');
      }, 2);
    }
  }

  /**
   * Reopens the path if the file there is no longer the one open. Checked at
   * most once per interval on the request path (a stat costs microseconds,
   * but not nothing), and on every change signal.
   * @returns whether it reopened.
   */
  #ensureCurrentFile(maxAgeMs: number): boolean {
    // A closed store stays closed: its statements throw, rather than a fresh connection nobody closes.
    if (this.#closed) return false;
    const now = Date.now();
    if (now - this.#lastIdentityCheck < maxAgeMs) return false;
    this.#lastIdentityCheck = now;
    const current = identityOf(this.path);
    const { identity } = this.#file;
    if (current !== undefined && current.dev === identity.dev && current.ino === identity.ino) return false;
    this.#options.logger?.warn(
      { path: this.path },
      current === undefined ? 'database file was deleted; creating a new one' : 'database file was replaced; reopening it',
    );
    this.#file.db.close();
    this.#file = openFile(this.path, this.#options);
    this.#dataVersion = this.#readDataVersion();
    return true;
  }

  #readDataVersion(): number {
    return this.#file.stmts.dataVersion.get()!;
  }
}
