import type { Logger } from '../../log/logger.ts';
import { InvalidArgumentError, JobNotFoundError } from '../../errors.ts';
import type {
  AttemptError, CancelOutcome, ClaimedJob, Completion, JobErrorInfo, JobFilter, JobNote, JobOutcome, JobPulse, JobRecord, JobState,
  JobStore, NewJob, ProgressUpdate, PruneBudget, PruneCutoffs, RecurringRecord, RecurringSpec, RunningJob, StoreChange,
} from '../job-store.ts';
import type { BackgroundCheckpointer } from './checkpointer.ts';
import { Connection } from './connection.ts';
import { GroupedAdds } from './grouped-adds.ts';
import { claimJobs } from './claim-jobs.ts';
import { insertAll } from './insert-jobs.ts';
import { PruneSweep } from './prune-sweep.ts';
import { recordOutcomesThen } from './record-outcomes.ts';
import type { Synchronous } from './open-database.ts';
import * as sql from './queries.ts';
import type { JobRow, Statements } from './statements.ts';

/** Options for {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** Absolute path of the database file; its folder is created if missing. */
  readonly path: string;
  /** @default 'NORMAL' */
  readonly synchronous?: Synchronous;
  /** How long a statement waits for another process's write lock. @default 5000 */
  readonly busyTimeoutMs?: number;
  /**
   * Where WAL checkpoints run: `inline`, SQLite's default, on whichever
   * connection's commit crosses 1,000 pages of WAL (an fsync on that
   * process's event loop); `background`, on a worker thread of this process
   * every 200 ms (see {@link BackgroundCheckpointer}). Long-lived processes
   * use `background`; a short command has no use for a thread. @default 'inline'
   */
  readonly checkpoint?: 'inline' | 'background';
  /** How often the file's identity and other processes' commits are re-checked when no file event came. @default 1000 */
  readonly checkIntervalMs?: number;
  readonly logger?: Logger;
}

/**
 * The SQLite implementation of {@link JobStore}. better-sqlite3 is
 * synchronous, so every transaction here runs to completion inside one call:
 * none is ever held across an `await`.
 *
 * If the database file is deleted or replaced while the store is open (the
 * AMsoil way of clearing jobs), the store notices within `checkIntervalMs`,
 * logs it, and reopens the path, so it never keeps writing into an unlinked file.
 * The {@link Connection} does that, so every method asks it for the statements anew.
 */
export class SqliteStore implements JobStore {
  readonly path: string;
  readonly #conn: Connection;
  readonly #adds: GroupedAdds;
  readonly #transaction = <R>(fn: (s: Statements) => R): R => this.#conn.transaction(fn);
  readonly #pruneSweep = new PruneSweep();

  private constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.#conn = new Connection(options);
    this.#adds = new GroupedAdds(this.#conn);
  }

  /** Opens (creating and migrating if needed) the database at `options.path`. */
  static open(options: SqliteStoreOptions): SqliteStore {
    return new SqliteStore(options);
  }

  /** Concurrent calls share a commit: see {@link GroupedAdds}. */
  addJob(job: NewJob): Promise<number> {
    return this.#adds.add(job);
  }

  async addJobs(jobs: Iterable<NewJob>): Promise<number[]> {
    if (Array.isArray(jobs) && jobs.length === 0) return []; // no write lock for nothing
    const ids = this.#conn.transaction((s) => insertAll(s, jobs));
    if (ids.length > 0) this.#conn.changedHere('work');
    return ids;
  }

  async recordProgress(updates: readonly ProgressUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    this.#conn.transaction((s) => {
      for (const u of updates) {
        const owner = s.knownOwnerId(u.owner);
        if (u.progress !== null) s.recordProgress.run({ id: u.id, owner, ...u.progress });
        for (const note of u.notes) s.insertNote.run({ id: u.id, owner, ...note });
      }
    });
    this.#conn.changedHere('outcomes');
  }

  async pulse(ids: readonly number[]): Promise<JobPulse[]> {
    if (ids.length === 0) return [];
    return this.#conn.statements().pulse.all(JSON.stringify(ids));
  }

  async outcomes(ids: readonly number[]): Promise<JobOutcome[]> {
    if (ids.length === 0) return [];
    return this.#conn.statements().selectOutcomes.all(JSON.stringify(ids))
      .map((row) => ({ ...row, error: row.error === null ? null : (JSON.parse(row.error) as JobErrorInfo) }));
  }

  async getJobNotes(id: number, afterId = 0): Promise<JobNote[]> {
    return this.#conn.statements().selectNotes.all(id, afterId);
  }

  async upsertRecurring(spec: RecurringSpec): Promise<RecurringRecord> {
    // Its occurrences are inserted with its target's id (sql.enqueueOccurrence).
    this.#conn.statements().targetId(spec.service, spec.method);
    const record = this.#conn.transaction((s) => {
      const existing = s.selectRecurringBySignature.get(spec.service, spec.method, spec.name);
      if (existing === undefined) {
        const id = Number(s.insertRecurring.run(spec).lastInsertRowid);
        return s.selectRecurring.get(id)!;
      }
      const sameSchedule = existing.everyMs === spec.everyMs && existing.cron === spec.cron && existing.tz === spec.tz;
      (sameSchedule ? s.updateRecurringKeepSchedule : s.updateRecurringNewSchedule).run({ ...spec, id: existing.id });
      return s.selectRecurring.get(existing.id)!;
    });
    this.#conn.changedHere('work');
    return record;
  }

  async claim(request: { owner: string; limit: number; now: number; leaseUntil: number }): Promise<ClaimedJob[]> {
    return this.#conn.transaction((s) => claimJobs(s, request));
  }

  async complete(completions: readonly Completion[]): Promise<number[]> {
    if (completions.length === 0) return [];
    const { refused } = recordOutcomesThen(this.#transaction, completions, () => undefined);
    this.#conn.changedHere('outcomes');
    return refused;
  }

  async completeAndClaim(
    completions: readonly Completion[],
    request: { owner: string; limit: number; now: number; leaseUntil: number },
  ): Promise<{ refused: number[]; claimed: ClaimedJob[] }> {
    const { refused, result: claimed } = recordOutcomesThen(this.#transaction, completions, (s) => claimJobs(s, request));
    if (completions.length > 0) this.#conn.changedHere('outcomes');
    return { refused, claimed };
  }

  async heartbeat(owner: string, leaseUntil: number): Promise<void> {
    const s = this.#conn.statements();
    s.heartbeat.run({ owner: s.knownOwnerId(owner), leaseUntil });
  }

  async release(owner: string, ids: readonly number[], now: number): Promise<void> {
    this.#conn.transaction((s) => {
      const ownerId = s.knownOwnerId(owner);
      for (const id of ids) s.releaseJob.run({ id, owner: ownerId, now });
    });
    this.#requeuedOrFinished();
  }

  async recoverExpiredLeases(now: number): Promise<number> {
    if (this.#conn.statements().anyExpiredLease.get({ now }) === undefined) return 0;
    const lost = { now, name: 'LeaseExpiredError', message: 'the worker running this job stopped heart-beating (its lease expired)' };
    const recovered = this.#conn.transaction((s) => {
      s.recordExpiredLeaseErrors.run(lost);
      return s.recoverExpiredLeases.run(lost).changes;
    });
    if (recovered > 0) this.#requeuedOrFinished();
    return recovered;
  }

  async abandon(owner: string, now: number, error: JobErrorInfo): Promise<number> {
    const abandoned = this.#conn.transaction((s) => {
      const ownerId = s.knownOwnerId(owner);
      if (ownerId === null) return 0;
      const lost = { owner: ownerId, now, name: error.name, message: error.message };
      s.recordAbandonedErrors.run(lost);
      const changes = s.abandonOwner.run(lost).changes;
      s.deleteOwner.run({ id: ownerId }); // it is gone
      return changes;
    });
    if (abandoned > 0) this.#requeuedOrFinished();
    return abandoned;
  }

  async runningOwners(): Promise<string[]> {
    return this.#conn.statements().runningOwners.all();
  }

  async retire(owner: string): Promise<void> {
    this.#conn.transaction((s) => {
      const ownerId = s.knownOwnerId(owner);
      if (ownerId !== null) s.deleteOwner.run({ id: ownerId });
    });
  }

  async runningJobs(owner: string): Promise<RunningJob[]> {
    const s = this.#conn.statements();
    return s.runningJobsOf.all(s.knownOwnerId(owner));
  }

  async cancelRequests(owner: string): Promise<number[]> {
    const s = this.#conn.statements();
    return s.cancelRequestsOf.all(s.knownOwnerId(owner));
  }

  async cancel(id: number, now: number): Promise<CancelOutcome> {
    const outcome = this.#conn.transaction((s): CancelOutcome => {
      if (s.cancelWaiting.run({ id, now }).changes === 1) return 'cancelled';
      if (s.requestCancel.run({ id }).changes === 1) return 'requested';
      if (s.selectJob.get(id) === undefined) throw new JobNotFoundError(id);
      return 'finished';
    });
    if (outcome === 'requested') this.#conn.changedHere('work');
    if (outcome === 'cancelled') this.#conn.changedHere('outcomes');
    return outcome;
  }

  async retry(id: number, now: number): Promise<boolean> {
    const retried = this.#conn.transaction((s) => {
      try {
        if (s.retryJob.run({ id, now }).changes === 1) return true;
      } catch (error) {
        if ((error as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw error;
        const job = s.selectJob.get(id)!;
        const active = s.selectActiveByKey.get(s.targetId(job.service, job.method), job.key!);
        throw new InvalidArgumentError(`job ${id} cannot be retried: job ${active} with the same key "${job.key}" is waiting or running`);
      }
      if (s.selectJob.get(id) === undefined) throw new JobNotFoundError(id);
      return false;
    });
    if (retried) this.#conn.changedHere('work');
    return retried;
  }

  async prune(cutoffs: PruneCutoffs, budget: PruneBudget): Promise<number> {
    return this.#pruneSweep.run(this.#conn, cutoffs, budget);
  }

  async nextRecurringAt(): Promise<number | null> {
    return this.#conn.statements().nextRecurringAt.get() ?? null;
  }

  async dueRecurring(now: number): Promise<RecurringRecord[]> {
    return this.#conn.statements().dueRecurring.all(now);
  }

  async fireRecurring(id: number, expectedNextRunAt: number, fireTimes: readonly number[], nextRunAt: number, now: number): Promise<boolean> {
    return this.#conn.transaction((s) => {
      if (s.advanceRecurring.run({ id, expected: expectedNextRunAt, nextRunAt }).changes === 0) return false;
      for (const fireTime of fireTimes) s.enqueueOccurrence.run({ id, fireTime, now });
      return true;
    });
  }

  async nextWakeAt(): Promise<number | null> {
    const s = this.#conn.statements();
    let earliest = s.nextRecurringAt.get() ?? Number.POSITIVE_INFINITY;
    let below = Number.MAX_SAFE_INTEGER;
    for (let seeks = 0; ; seeks++) {
      if (seeks === MAX_PRIORITY_SEEKS) {
        earliest = Math.min(earliest, s.minWaitingRunAt.get() ?? Number.POSITIVE_INFINITY);
        break;
      }
      const next = s.nextWaitingBelowPriority.get({ below });
      if (next === undefined) break;
      earliest = Math.min(earliest, next.runAt);
      below = next.priority;
    }
    return Number.isFinite(earliest) ? earliest : null;
  }

  async getJob(id: number): Promise<JobRecord | undefined> {
    const row = this.#conn.statements().selectJob.get(id);
    return row === undefined ? undefined : toJobRecord(row);
  }

  async getJobErrors(id: number): Promise<AttemptError[]> {
    return this.#conn.statements().selectJobErrors.all(id).map(({ stack, ...rest }) => (stack === null ? rest : { ...rest, stack }));
  }

  async listJobs(filter: JobFilter = {}): Promise<JobRecord[]> {
    const s = this.#conn.statements();
    const limit = filter.limit ?? -1;
    const rows = filter.state === undefined && filter.tag === undefined
      ? s.listJobs.all({ limit })
      : s.listJobsFiltered.all({ limit, state: filter.state === undefined ? null : sql.STATE[filter.state], tag: filter.tag ?? null });
    return rows.map(toJobRecord);
  }

  async listRecurring(): Promise<RecurringRecord[]> {
    return this.#conn.statements().listRecurring.all();
  }

  async clearRecurring(): Promise<number> {
    return this.#conn.statements().deleteAllRecurring.run().changes;
  }

  async removeRecurring(service: string, method: string, name: string): Promise<boolean> {
    return this.#conn.statements().deleteRecurring.run(service, method, name).changes === 1;
  }

  onChange(listener: (change: StoreChange) => void): () => void {
    return this.#conn.onChange(listener);
  }

  async close(): Promise<void> {
    this.#conn.close();
  }

  /** For tests and diagnostics: the query plan of a named statement. */
  explain(statement: StatementName, params: Record<string, unknown> | unknown[] = {}): string[] {
    const rows = this.#conn.db.prepare(`EXPLAIN QUERY PLAN ${sql[statement]}`).all(params) as { detail: string }[];
    return rows.map((row) => row.detail);
  }

  /** Jobs taken from their worker went back to waiting or finished (failed, or cancelled on request): tell both kinds of listener. */
  #requeuedOrFinished(): void {
    this.#conn.changedHere('work');
    this.#conn.changedHere('outcomes');
  }
}

/** The names of the SQL statements in queries.ts. */
type StatementName = { [K in keyof typeof sql]: (typeof sql)[K] extends string ? K : never }[keyof typeof sql];

/** Past this many distinct priorities, one scan is cheaper than a seek per priority. */
const MAX_PRIORITY_SEEKS = 16;

function toJobRecord(row: JobRow): JobRecord {
  const { progressCurrent, progressTotal, progressAt, ...rest } = row;
  return {
    ...rest,
    state: row.state as JobState,
    error: row.error === null ? null : (JSON.parse(row.error) as JobErrorInfo),
    tags: row.tags === null ? [] : (JSON.parse(row.tags) as string[]),
    progress: progressCurrent === null || progressTotal === null || progressAt === null ? null : { current: progressCurrent, total: progressTotal, at: progressAt },
  };
}
