import type { Database, Statement } from 'better-sqlite3';
import type { Logger } from '../../log/logger.ts';
import { InvalidArgumentError, JobNotFoundError } from '../../errors.ts';
import type {
  AttemptError, CancelOutcome, ClaimedJob, Completion, JobErrorInfo, JobFilter, JobNote, JobPulse, JobRecord, JobState,
  JobStore, NewJob, ProgressUpdate, RecurringRecord, RecurringSpec, RunningJob, StoreChange,
} from '../job-store.ts';
import { ChangeMonitor } from './change-monitor.ts';
import { identityOf, openDatabase, type FileIdentity, type Synchronous } from './open-database.ts';
import * as sql from './queries.ts';

/** Options for {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** Absolute path of the database file; its folder is created if missing. */
  readonly path: string;
  /** @default 'NORMAL' */
  readonly synchronous?: Synchronous;
  /** How long a statement waits for another process's write lock. @default 5000 */
  readonly busyTimeoutMs?: number;
  /** How often the file's identity and other processes' commits are re-checked when no file event came. @default 1000 */
  readonly checkIntervalMs?: number;
  readonly logger?: Logger;
}

type Row = Omit<JobRecord, 'error' | 'state' | 'tags' | 'progress'> & {
  state: string;
  error: string | null;
  tags: string | null;
  progressCurrent: number | null;
  progressTotal: number | null;
  progressAt: number | null;
};
type AttemptErrorRow = Omit<AttemptError, 'stack'> & { stack: string | null };

/** Prepared once per connection; re-prepared when the file is reopened. */
class Statements {
  readonly insertJob: Statement;
  readonly claimJobs: Statement<Record<string, number | string>, ClaimedJob>;
  readonly completeSucceeded: Statement;
  readonly completeFailed: Statement;
  readonly heartbeat: Statement;
  readonly releaseJob: Statement;
  readonly recoverExpiredLeases: Statement;
  readonly selectJob: Statement<[number], Row>;
  readonly listJobs: Statement<Record<string, number | string>, Row>;
  readonly listJobsFiltered: Statement<Record<string, number | string | null>, Row>;
  readonly insertKeyedJob: Statement;
  readonly selectActiveByKey: Statement<[string, string, string], number>;
  readonly recordProgress: Statement;
  readonly insertNote: Statement;
  readonly selectNotes: Statement<[number, number], JobNote>;
  readonly pulse: Statement<[string], JobPulse>;
  readonly pruneJobNotes: Statement;
  readonly nextWakeAt: Statement<[], { at: number | null }>;
  readonly selectRecurringBySignature: Statement<[string, string, string], RecurringRecord>;
  readonly selectRecurring: Statement<[number], RecurringRecord>;
  readonly listRecurring: Statement<[], RecurringRecord>;
  readonly dueRecurring: Statement<[number], RecurringRecord>;
  readonly deleteAllRecurring: Statement;
  readonly insertRecurring: Statement;
  readonly updateRecurringKeepSchedule: Statement;
  readonly updateRecurringNewSchedule: Statement;
  readonly advanceRecurring: Statement;
  readonly enqueueOccurrence: Statement;
  readonly recordAttemptError: Statement;
  readonly completeCancelled: Statement;
  readonly recordExpiredLeaseErrors: Statement;
  readonly abandonOwner: Statement;
  readonly recordAbandonedErrors: Statement;
  readonly runningOwners: Statement<[], string>;
  readonly runningJobsOf: Statement<[string], RunningJob>;
  readonly cancelRequestsOf: Statement<[string], number>;
  readonly cancelWaiting: Statement;
  readonly requestCancel: Statement;
  readonly retryJob: Statement;
  readonly selectJobErrors: Statement<[number], AttemptErrorRow>;
  readonly pruneJobErrors: Statement;
  readonly pruneJobs: Statement;
  readonly deleteRecurring: Statement;

  constructor(db: Database) {
    this.insertJob = db.prepare(sql.insertJob);
    this.claimJobs = db.prepare(sql.claimJobs);
    this.completeSucceeded = db.prepare(sql.completeSucceeded);
    this.completeFailed = db.prepare(sql.completeFailed);
    this.heartbeat = db.prepare(sql.heartbeat);
    this.releaseJob = db.prepare(sql.releaseJob);
    this.recoverExpiredLeases = db.prepare(sql.recoverExpiredLeases);
    this.selectJob = db.prepare(sql.selectJob);
    this.listJobs = db.prepare(sql.listJobs);
    this.listJobsFiltered = db.prepare(sql.listJobsFiltered);
    this.insertKeyedJob = db.prepare(sql.insertKeyedJob);
    this.selectActiveByKey = db.prepare<[string, string, string], number>(sql.selectActiveByKey).pluck();
    this.recordProgress = db.prepare(sql.recordProgress);
    this.insertNote = db.prepare(sql.insertNote);
    this.selectNotes = db.prepare(sql.selectNotes);
    this.pulse = db.prepare(sql.pulse);
    this.pruneJobNotes = db.prepare(sql.pruneJobNotes);
    this.nextWakeAt = db.prepare(sql.nextWakeAt);
    this.selectRecurringBySignature = db.prepare(sql.selectRecurringBySignature);
    this.selectRecurring = db.prepare(sql.selectRecurring);
    this.listRecurring = db.prepare(sql.listRecurring);
    this.dueRecurring = db.prepare(sql.dueRecurring);
    this.deleteAllRecurring = db.prepare(sql.deleteAllRecurring);
    this.insertRecurring = db.prepare(sql.insertRecurring);
    this.updateRecurringKeepSchedule = db.prepare(sql.updateRecurringKeepSchedule);
    this.updateRecurringNewSchedule = db.prepare(sql.updateRecurringNewSchedule);
    this.advanceRecurring = db.prepare(sql.advanceRecurring);
    this.enqueueOccurrence = db.prepare(sql.enqueueOccurrence);
    this.recordAttemptError = db.prepare(sql.recordAttemptError);
    this.completeCancelled = db.prepare(sql.completeCancelled);
    this.recordExpiredLeaseErrors = db.prepare(sql.recordExpiredLeaseErrors);
    this.abandonOwner = db.prepare(sql.abandonOwner);
    this.recordAbandonedErrors = db.prepare(sql.recordAbandonedErrors);
    this.runningOwners = db.prepare<[], string>(sql.runningOwners).pluck();
    this.runningJobsOf = db.prepare(sql.runningJobsOf);
    this.cancelRequestsOf = db.prepare<[string], number>(sql.cancelRequestsOf).pluck();
    this.cancelWaiting = db.prepare(sql.cancelWaiting);
    this.requestCancel = db.prepare(sql.requestCancel);
    this.retryJob = db.prepare(sql.retryJob);
    this.selectJobErrors = db.prepare(sql.selectJobErrors);
    this.pruneJobErrors = db.prepare(sql.pruneJobErrors);
    this.pruneJobs = db.prepare(sql.pruneJobs);
    this.deleteRecurring = db.prepare(sql.deleteRecurring);
  }
}

/**
 * The SQLite implementation of {@link JobStore}. better-sqlite3 is
 * synchronous, so every transaction here runs to completion inside one call:
 * none is ever held across an `await`.
 *
 * If the database file is deleted or replaced while the store is open (the
 * AMsoil way of clearing jobs), the store notices within `checkIntervalMs`,
 * logs it, and reopens the path, so it never keeps writing into an unlinked file.
 */
export class SqliteStore implements JobStore {
  readonly path: string;
  readonly #options: SqliteStoreOptions;
  readonly #listeners = new Set<(change: StoreChange) => void>();
  readonly #monitor: ChangeMonitor;
  #db: Database;
  #identity: FileIdentity;
  #stmts: Statements;
  #dataVersion: number;
  #lastIdentityCheck = Date.now();
  #closed = false;
  readonly #localChanges = new Set<StoreChange>();

  private constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.#options = options;
    const { db, identity } = openDatabase(options.path, options);
    this.#db = db;
    this.#identity = identity;
    this.#stmts = new Statements(db);
    this.#dataVersion = this.#readDataVersion();
    this.#monitor = new ChangeMonitor(options.path, () => this.#check(), options.checkIntervalMs ?? 1000);
  }

  /** Opens (creating and migrating if needed) the database at `options.path`. */
  static open(options: SqliteStoreOptions): SqliteStore {
    return new SqliteStore(options);
  }

  async addJob(job: NewJob): Promise<number> {
    this.#ensureCurrentFile();
    const s = this.#stmts;
    const row = { ...job, key: job.key ?? null, tags: job.tags === undefined || job.tags === null || job.tags.length === 0 ? null : JSON.stringify(job.tags) };
    const id = row.key === null
      ? Number(s.insertJob.run(row).lastInsertRowid)
      : this.#db.transaction(() => {
          const info = s.insertKeyedJob.run(row);
          return info.changes === 1 ? Number(info.lastInsertRowid) : s.selectActiveByKey.get(job.service, job.method, row.key!)!;
        }).immediate();
    this.#changedHere('work');
    return id;
  }

  async recordProgress(updates: readonly ProgressUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    this.#ensureCurrentFile();
    const s = this.#stmts;
    this.#db.transaction(() => {
      for (const u of updates) {
        if (u.progress !== null) s.recordProgress.run({ id: u.id, owner: u.owner, ...u.progress });
        for (const note of u.notes) s.insertNote.run({ id: u.id, owner: u.owner, ...note });
      }
    }).immediate();
    this.#changedHere('outcomes');
  }

  async pulse(ids: readonly number[]): Promise<JobPulse[]> {
    if (ids.length === 0) return [];
    this.#ensureCurrentFile();
    return this.#stmts.pulse.all(JSON.stringify(ids));
  }

  async getJobNotes(id: number, afterId = 0): Promise<JobNote[]> {
    this.#ensureCurrentFile();
    return this.#stmts.selectNotes.all(id, afterId);
  }

  async upsertRecurring(spec: RecurringSpec): Promise<RecurringRecord> {
    this.#ensureCurrentFile();
    const s = this.#stmts;
    this.#changedHere('work');
    return this.#db.transaction(() => {
      const existing = s.selectRecurringBySignature.get(spec.service, spec.method, spec.name);
      if (existing === undefined) {
        const id = Number(s.insertRecurring.run(spec).lastInsertRowid);
        return s.selectRecurring.get(id)!;
      }
      const sameSchedule = existing.everyMs === spec.everyMs && existing.cron === spec.cron && existing.tz === spec.tz;
      (sameSchedule ? s.updateRecurringKeepSchedule : s.updateRecurringNewSchedule).run({ ...spec, id: existing.id });
      return s.selectRecurring.get(existing.id)!;
    }).immediate();
  }

  async claim(request: { owner: string; limit: number; now: number; leaseUntil: number }): Promise<ClaimedJob[]> {
    this.#ensureCurrentFile();
    const claim = this.#stmts.claimJobs;
    return this.#db.transaction(() => claim.all(request)).immediate();
  }

  async complete(completions: readonly Completion[]): Promise<number[]> {
    if (completions.length === 0) return [];
    this.#ensureCurrentFile();
    const s = this.#stmts;
    const refused: number[] = [];
    this.#db.transaction(() => {
      for (const c of completions) {
        let changes: number;
        if (c.outcome === 'succeeded') {
          changes = s.completeSucceeded.run({ id: c.id, owner: c.owner, result: c.result, at: c.at }).changes;
        } else {
          const { name, message, stack = null } = c.error;
          const error = JSON.stringify(c.error);
          if (c.outcome === 'failed') {
            s.recordAttemptError.run({ id: c.id, owner: c.owner, name, message, stack, at: c.at });
            changes = s.completeFailed.run({ id: c.id, owner: c.owner, error, at: c.at, retryAt: c.retryAt }).changes;
          } else {
            changes = s.completeCancelled.run({ id: c.id, owner: c.owner, error, at: c.at }).changes;
          }
        }
        if (changes === 0) refused.push(c.id);
      }
    }).immediate();
    this.#changedHere('outcomes');
    return refused;
  }

  async heartbeat(owner: string, leaseUntil: number): Promise<void> {
    this.#ensureCurrentFile();
    this.#stmts.heartbeat.run({ owner, leaseUntil });
  }

  async release(owner: string, ids: readonly number[], now: number): Promise<void> {
    this.#ensureCurrentFile();
    const release = this.#stmts.releaseJob;
    this.#db.transaction(() => {
      for (const id of ids) release.run({ id, owner, now });
    }).immediate();
    this.#changedHere('work');
  }

  async recoverExpiredLeases(now: number): Promise<number> {
    this.#ensureCurrentFile();
    const s = this.#stmts;
    const lost = { now, name: 'LeaseExpiredError', message: 'the worker running this job stopped heart-beating (its lease expired)' };
    const recovered = this.#db.transaction(() => {
      s.recordExpiredLeaseErrors.run(lost);
      return s.recoverExpiredLeases.run(lost).changes;
    }).immediate();
    if (recovered > 0) this.#changedHere('work');
    return recovered;
  }

  async abandon(owner: string, now: number, error: JobErrorInfo): Promise<number> {
    this.#ensureCurrentFile();
    const s = this.#stmts;
    const lost = { owner, now, name: error.name, message: error.message };
    const abandoned = this.#db.transaction(() => {
      s.recordAbandonedErrors.run(lost);
      return s.abandonOwner.run(lost).changes;
    }).immediate();
    if (abandoned > 0) this.#changedHere('work');
    return abandoned;
  }

  async runningOwners(): Promise<string[]> {
    this.#ensureCurrentFile();
    return this.#stmts.runningOwners.all();
  }

  async runningJobs(owner: string): Promise<RunningJob[]> {
    this.#ensureCurrentFile();
    return this.#stmts.runningJobsOf.all(owner);
  }

  async cancelRequests(owner: string): Promise<number[]> {
    this.#ensureCurrentFile();
    return this.#stmts.cancelRequestsOf.all(owner);
  }

  async cancel(id: number, now: number): Promise<CancelOutcome> {
    this.#ensureCurrentFile();
    const s = this.#stmts;
    const outcome = this.#db.transaction((): CancelOutcome => {
      if (s.cancelWaiting.run({ id, now }).changes === 1) return 'cancelled';
      if (s.requestCancel.run({ id }).changes === 1) return 'requested';
      if (s.selectJob.get(id) === undefined) throw new JobNotFoundError(id);
      return 'finished';
    }).immediate();
    if (outcome === 'requested') this.#changedHere('work');
    return outcome;
  }

  async retry(id: number, now: number): Promise<boolean> {
    this.#ensureCurrentFile();
    const s = this.#stmts;
    const retried = this.#db.transaction(() => {
      try {
        if (s.retryJob.run({ id, now }).changes === 1) return true;
      } catch (error) {
        if ((error as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw error;
        const job = s.selectJob.get(id)!;
        const active = s.selectActiveByKey.get(job.service, job.method, job.key!);
        throw new InvalidArgumentError(`job ${id} cannot be retried: job ${active} with the same key "${job.key}" is waiting or running`);
      }
      if (s.selectJob.get(id) === undefined) throw new JobNotFoundError(id);
      return false;
    }).immediate();
    if (retried) this.#changedHere('work');
    return retried;
  }

  async prune(state: 'succeeded' | 'failed' | 'cancelled', before: number, limit: number): Promise<number> {
    this.#ensureCurrentFile();
    const s = this.#stmts;
    const params = { state, before, limit };
    return this.#db.transaction(() => {
      s.pruneJobErrors.run(params);
      s.pruneJobNotes.run(params);
      return s.pruneJobs.run(params).changes;
    }).immediate();
  }

  async dueRecurring(now: number): Promise<RecurringRecord[]> {
    this.#ensureCurrentFile();
    return this.#stmts.dueRecurring.all(now);
  }

  async fireRecurring(id: number, expectedNextRunAt: number, fireTimes: readonly number[], nextRunAt: number, now: number): Promise<boolean> {
    this.#ensureCurrentFile();
    const s = this.#stmts;
    return this.#db.transaction(() => {
      if (s.advanceRecurring.run({ id, expected: expectedNextRunAt, nextRunAt }).changes === 0) return false;
      for (const fireTime of fireTimes) s.enqueueOccurrence.run({ id, fireTime, now });
      return true;
    }).immediate();
  }

  async nextWakeAt(): Promise<number | null> {
    this.#ensureCurrentFile();
    return this.#stmts.nextWakeAt.get()?.at ?? null;
  }

  async getJob(id: number): Promise<JobRecord | undefined> {
    this.#ensureCurrentFile();
    const row = this.#stmts.selectJob.get(id);
    return row === undefined ? undefined : toJobRecord(row);
  }

  async getJobErrors(id: number): Promise<AttemptError[]> {
    this.#ensureCurrentFile();
    return this.#stmts.selectJobErrors.all(id).map(({ stack, ...rest }) => (stack === null ? rest : { ...rest, stack }));
  }

  async listJobs(filter: JobFilter = {}): Promise<JobRecord[]> {
    this.#ensureCurrentFile();
    const limit = filter.limit ?? -1;
    const rows = filter.state === undefined && filter.tag === undefined
      ? this.#stmts.listJobs.all({ limit })
      : this.#stmts.listJobsFiltered.all({ limit, state: filter.state ?? null, tag: filter.tag ?? null });
    return rows.map(toJobRecord);
  }

  async listRecurring(): Promise<RecurringRecord[]> {
    this.#ensureCurrentFile();
    return this.#stmts.listRecurring.all();
  }

  async clearRecurring(): Promise<number> {
    this.#ensureCurrentFile();
    return this.#stmts.deleteAllRecurring.run().changes;
  }

  async removeRecurring(service: string, method: string, name: string): Promise<boolean> {
    this.#ensureCurrentFile();
    return this.#stmts.deleteRecurring.run(service, method, name).changes === 1;
  }

  onChange(listener: (change: StoreChange) => void): () => void {
    this.#listeners.add(listener);
    this.#monitor.start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#monitor.stop();
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#monitor.stop();
    this.#listeners.clear();
    this.#db.close();
  }

  /** For tests and diagnostics: the query plan of a named statement. */
  explain(statement: keyof typeof sql, params: Record<string, unknown> = {}): string[] {
    const rows = this.#db.prepare(`EXPLAIN QUERY PLAN ${sql[statement] as string}`).all(params) as { detail: string }[];
    return rows.map((row) => row.detail);
  }

  /** Runs on file events and on the fallback timer. */
  #check(): void {
    if (this.#closed) return;
    const reopened = this.#ensureCurrentFile(0);
    const version = this.#readDataVersion();
    if (reopened || version !== this.#dataVersion) {
      this.#dataVersion = version;
      for (const listener of this.#listeners) listener('any');
    }
  }

  /**
   * Reopens the path if the file there is no longer the one open. Checked at
   * most once per interval on the request path (a stat costs microseconds,
   * but not nothing), and on every change signal.
   * @returns whether the store reopened.
   */
  #ensureCurrentFile(maxAgeMs = this.#options.checkIntervalMs ?? 1000): boolean {
    const now = Date.now();
    if (now - this.#lastIdentityCheck < maxAgeMs) return false;
    this.#lastIdentityCheck = now;
    const current = identityOf(this.path);
    if (current !== undefined && current.dev === this.#identity.dev && current.ino === this.#identity.ino) return false;
    this.#options.logger?.warn(
      { path: this.path },
      current === undefined ? 'database file was deleted; creating a new one' : 'database file was replaced; reopening it',
    );
    this.#db.close();
    const { db, identity } = openDatabase(this.path, this.#options);
    this.#db = db;
    this.#identity = identity;
    this.#stmts = new Statements(db);
    this.#dataVersion = this.#readDataVersion();
    return true;
  }

  /**
   * A write through this connection that may make work due. `data_version`
   * only reports other connections' commits, so a worker sharing this store
   * (embedded use, tests) is told here. Coalesced to one call per turn.
   */
  #changedHere(change: StoreChange): void {
    if (this.#listeners.size === 0 || this.#localChanges.has(change)) return;
    if (this.#localChanges.size === 0) {
      setImmediate(() => {
        const changes = [...this.#localChanges];
        this.#localChanges.clear();
        for (const listener of this.#listeners) for (const c of changes) listener(c);
      });
    }
    this.#localChanges.add(change);
  }

  #readDataVersion(): number {
    return this.#db.pragma('data_version', { simple: true }) as number;
  }
}

function toJobRecord(row: Row): JobRecord {
  const { progressCurrent, progressTotal, progressAt, ...rest } = row;
  return {
    ...rest,
    state: row.state as JobState,
    error: row.error === null ? null : (JSON.parse(row.error) as JobErrorInfo),
    tags: row.tags === null ? [] : (JSON.parse(row.tags) as string[]),
    progress: progressCurrent === null || progressTotal === null || progressAt === null ? null : { current: progressCurrent, total: progressTotal, at: progressAt },
  };
}
