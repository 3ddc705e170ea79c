import type { Database } from 'better-sqlite3';
import { DatabaseReplacedError, DatabaseUnavailableError } from '../../errors.ts';
import type { StoreChange } from '../job-store.ts';
import { ChangeMonitor, type ChangeSignal } from './change-monitor.ts';
import { BackgroundCheckpointer, SAFETY_NET_CHECKPOINT_PAGES } from './checkpointer.ts';
import { identityOf, openDatabase, sameFile, type FileIdentity } from './open-database.ts';
import type { SqliteStoreOptions } from './sqlite-store.ts';
import { Statements } from './statements.ts';

/** One opening of the file at the store's path: the connection, which file it is, and the statements prepared on it. */
interface OpenFile {
  readonly db: Database;
  readonly identity: FileIdentity;
  /** The random id made with the file: see {@link Connection.databaseId}. */
  readonly databaseId: string;
  readonly stmts: Statements;
}

function openFile(path: string, options: SqliteStoreOptions): OpenFile {
  const autocheckpointPages = options.checkpoint === 'background' ? SAFETY_NET_CHECKPOINT_PAGES : undefined;
  const { db, identity, databaseId } = openDatabase(path, { ...options, ...(autocheckpointPages === undefined ? {} : { autocheckpointPages }) });
  return { db, identity, databaseId, stmts: new Statements(db) };
}

/**
 * What a write does when it finds, after its commit, that the file it
 * committed to was deleted or replaced meanwhile: `again`, make it again in
 * the new file (an add must not resolve without being stored); `moot`, let
 * it go (an outcome for a job of the deleted file, a claim of its jobs).
 */
export type OnReplaced = 'again' | 'moot';

/** Times a write is made again in a new file before it gives up: each time, the file was deleted once more. */
const WRITE_TRIES = 5;

/**
 * Owns a {@link SqliteStore}'s better-sqlite3 connection. If the database
 * file is deleted or replaced while it is open (the AMsoil way of clearing
 * jobs), it reopens the path (see {@link openDatabase}, which makes that
 * safe), so it never goes on writing into an unlinked file:
 * - every write is checked after its commit (one stat): a commit that went
 *   into a file no longer at the path is made again in the new one, or
 *   dropped when it only concerned the old file's jobs (see {@link OnReplaced});
 * - reads look at the path at most once per `checkIntervalMs`, and on every
 *   file event from the {@link ChangeMonitor}.
 * The connection and its statements change when that happens: ask for them
 * on every use, never keep them.
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
  /** On `performance.now()`'s clock, which a wall-clock step does not move. */
  #lastIdentityCheck = performance.now();
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

  /**
   * The identity of the file open now (migration 0009): random, made with
   * the file, so the file that replaces a deleted one has another.
   */
  get databaseId(): string {
    return this.#file.databaseId;
  }

  /** The statements of the file now at the path, reopening it first if it is no longer the one open. */
  statements(): Statements {
    // Only another process's commit moves data_version, so a reopen noticed here is told to listeners here.
    if (this.#ensureCurrentFile(this.#checkIntervalMs)) this.changedHere('any');
    return this.#file.stmts;
  }

  /**
   * As {@link statements}, for reads about jobs of database `databaseId`
   * (a handle's, a watcher's): the path is looked at first, however
   * recently, and the read refused if that database is gone.
   * @throws DatabaseReplacedError naming `what`.
   */
  statementsOf(databaseId: string, what: string): Statements {
    const s = this.statements();
    if (databaseId !== this.#file.databaseId) throw new DatabaseReplacedError(what, this.path);
    return s;
  }

  /**
   * Runs `fn` in one `BEGIN IMMEDIATE` transaction on the file now at the
   * path. better-sqlite3 is synchronous: `fn` runs to completion inside this
   * call, so it must not be async (no transaction is held across an `await`).
   * See {@link write} for writes that must land in the file at the path.
   */
  transaction<T>(fn: (s: Statements) => T): T {
    this.statements();
    return this.#transactionOn(this.#file, fn);
  }

  /**
   * Runs `fn` (in one `BEGIN IMMEDIATE` transaction if `transaction`, else
   * as it is: one statement commits alone) and then makes sure the file it
   * committed to is still the one at the path: if the path still names it
   * after the commit, the commit happened before any delete, and it stands
   * (a later delete clears it as it clears everything). If not, the commit
   * may have come after the delete, into the deleted file: the file at the
   * path is opened and, for `again`, the write made again there; for
   * `moot`, `onMoot` gives the result instead.
   * @param fn gets the statements and the identity of the file they write
   *   to, and a `transaction` function on that same file (for a write that
   *   runs several transactions of its own, with `transaction: false`).
   * @throws DatabaseUnavailableError when the file keeps being replaced.
   */
  write<T>(
    fn: (s: Statements, databaseId: string, transaction: <R>(tx: (s: Statements) => R) => R) => T,
    options: { readonly transaction: boolean; readonly onReplaced: OnReplaced; readonly onMoot?: () => T },
  ): T {
    for (let tries = 0; tries < WRITE_TRIES; tries++) {
      this.statements();
      const file = this.#file;
      const onFile = <R>(tx: (s: Statements) => R): R => this.#transactionOn(file, tx);
      const result = options.transaction
        ? this.#transactionOn(file, (s) => fn(s, file.databaseId, onFile))
        : fn(file.stmts, file.databaseId, onFile);
      if (sameFile(file.identity, identityOf(this.path))) return result;
      if (this.#file === file) this.#reopenNow();
      if (options.onReplaced === 'moot') return options.onMoot === undefined ? result : options.onMoot();
    }
    throw new DatabaseUnavailableError(`the jobs database ${this.path} was deleted or replaced under ${WRITE_TRIES} writes in a row; this one was not stored`);
  }

  #transactionOn<T>(file: OpenFile, fn: (s: Statements) => T): T {
    const { db, stmts: s } = file;
    if (db.inTransaction) return db.transaction(() => fn(s)).immediate(); // nested: the outer one settles
    s.settle(false);
    let result: T;
    try {
      result = db.transaction(() => {
        s.flow.ensure();
        return fn(s);
      }).immediate();
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
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    this.#file.db.close();
    for (const listener of listeners) listener('closed');
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
   * most once per interval on the read path (a stat costs a microsecond or
   * so, but not nothing), and on every change signal.
   * @returns whether it reopened.
   */
  #ensureCurrentFile(maxAgeMs: number): boolean {
    // A closed store stays closed: its statements throw, rather than a fresh connection nobody closes.
    if (this.#closed) return false;
    const now = performance.now();
    if (now - this.#lastIdentityCheck < maxAgeMs) return false;
    this.#lastIdentityCheck = now;
    if (sameFile(identityOf(this.path), this.#file.identity)) return false;
    this.#reopenNow();
    return true;
  }

  /** Closes the file open now, which is no longer at the path, and opens the one that is (creating it if none). */
  #reopenNow(): void {
    const gone = identityOf(this.path) === undefined;
    this.#options.logger?.warn(
      { path: this.path },
      gone
        ? 'the jobs database file was deleted: creating a new one (the jobs of the deleted file are gone; those still running here are aborted at their next heartbeat)'
        : 'the jobs database file was replaced: reopening it',
    );
    const old = this.#file;
    this.#file = openFile(this.path, this.#options);
    this.#lastIdentityCheck = performance.now();
    this.#dataVersion = this.#readDataVersion();
    old.db.close();
    this.changedHere('any');
  }

  #readDataVersion(): number {
    return this.#file.stmts.dataVersion.get()!;
  }
}
