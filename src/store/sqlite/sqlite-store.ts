import type { Logger } from '../../log/logger.ts';
import { DatabaseReplacedError, DatabaseUnavailableError, InvalidArgumentError, JobNotFoundError } from '../../errors.ts';
import type {
  Activity, AttemptFailures, DeleteOutcome, JobPage, JobPageRequest, JobSearch,
  AddedJob, AddedJobs, AttemptError, AttemptRef, CancelOutcome, ClaimedJob, ConcurrencyKeyUse, ClaimRequest, Completion, JobErrorInfo, JobFilter, JobNote,
  JobOutcome, JobPulse, JobRecord, JobState, JobStats, JobStore, NewJob, OwnerBeat, ParentOutcome, PausedTarget, ProgressUpdate, RateLimit, RateLimitUse, PruneBudget,
  PruneCutoffs, RecurringRecord, RecurringSpec, Refusals, RunningJob, StoreChange, WorkerInfo,
} from '../job-store.ts';
import { STATS_WINDOW_MS, workerInfo } from '../stats.ts';
import type { BackgroundCheckpointer } from './checkpointer.ts';
import { Connection } from './connection.ts';
import { GroupedAdds } from './grouped-adds.ts';
import { claimJobs } from './claim-jobs.ts';
import { insertAll } from './insert-jobs.ts';
import { refuseEntryRefs } from '../parent-refs.ts';
import { bringBackDependants, parentsForRetry, rewaitRetried, toParentOutcomes } from './job-parents.ts';
import { pauseTarget, resumeTarget, toPausedTargets } from './pause.ts';
import { PruneSweep } from './prune-sweep.ts';
import { recordOutcomesThen } from './record-outcomes.ts';
import type { Synchronous } from './open-database.ts';
import * as dashboard from './dashboard-queries.ts';
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
 * AMsoil way of clearing jobs), the store notices at its next write (or
 * within `checkIntervalMs` for reads), logs it, and reopens the path, so it
 * never goes on writing into an unlinked file: an add that went into the
 * deleted file is made again in the new one. The {@link Connection} does
 * that, so every method asks it for the statements anew.
 */
export class SqliteStore implements JobStore {
  readonly path: string;
  readonly #conn: Connection;
  readonly #adds: GroupedAdds;
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
  addJob(job: NewJob): Promise<AddedJob> {
    try {
      refuseEntryRefs(job);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#adds.add(job);
  }

  async addJobs(jobs: Iterable<NewJob>): Promise<AddedJobs> {
    if (Array.isArray(jobs) && jobs.length === 0) return { database: this.#conn.databaseId, ids: [] }; // no write lock for nothing
    // Made again in a new file if the file was deleted under the commit: only an iterable that iterates afresh can be.
    const once = isOneShot(jobs);
    let tries = 0;
    const added = this.#conn.write((s, database) => {
      if (once && tries++ > 0) {
        throw new DatabaseUnavailableError(`the jobs database ${this.path} was deleted while jobs were added, and the jobs (a one-shot iterator) cannot be read again: add them again`);
      }
      return { database, ids: insertAll(s, jobs, database) };
    }, { transaction: true, onReplaced: 'again' });
    if (added.ids.length > 0) this.#conn.changedHere('work');
    return added;
  }

  async recordProgress(updates: readonly ProgressUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    this.#conn.write((s, database) => {
      for (const u of updates) {
        if (u.database !== database) continue; // a job of a deleted file
        const held = { id: u.id, attempt: u.attempt, owner: s.knownOwnerId(u.owner) };
        if (u.progress !== null) s.recordProgress.run({ ...held, ...u.progress });
        for (const note of u.notes) s.insertNote.run({ ...held, ...note });
      }
    }, { transaction: true, onReplaced: 'moot' });
    this.#conn.changedHere('outcomes');
  }

  async pulse(database: string, ids: readonly number[]): Promise<JobPulse[]> {
    const s = this.#conn.statementsOf(database, `job ${ids[0] ?? ''}`.trim());
    if (ids.length === 0) return [];
    return s.pulse.all(JSON.stringify(ids)).map(({ progressCurrent, progressTotal, progressAt, state, ...rest }) => ({
      ...rest,
      state: state as JobState,
      progress: progressCurrent === null || progressTotal === null || progressAt === null ? null : { current: progressCurrent, total: progressTotal, at: progressAt },
    }));
  }

  async outcomes(database: string, ids: readonly number[]): Promise<JobOutcome[]> {
    const s = this.#conn.statementsOf(database, `job ${ids[0] ?? ''}`.trim());
    if (ids.length === 0) return [];
    return s.selectOutcomes.all(JSON.stringify(ids))
      .map((row) => ({ ...row, error: row.error === null ? null : (JSON.parse(row.error) as JobErrorInfo) }));
  }

  async getJobNotes(id: number, afterId = 0, database?: string): Promise<JobNote[]> {
    const s = database === undefined ? this.#conn.statements() : this.#conn.statementsOf(database, `job ${id}`);
    return s.selectNotes.all(id, afterId);
  }

  async upsertRecurring(spec: RecurringSpec): Promise<RecurringRecord> {
    const record = this.#conn.write((s) => {
      // Its occurrences are inserted with its target's id (sql.enqueueOccurrence).
      s.targetId(spec.service, spec.method);
      const existing = s.selectRecurringBySignature.get(spec.service, spec.method, spec.name);
      if (existing === undefined) {
        const id = Number(s.insertRecurring.run(spec).lastInsertRowid);
        return s.selectRecurring.get(id)!;
      }
      const sameSchedule = existing.everyMs === spec.everyMs && existing.cron === spec.cron && existing.tz === spec.tz;
      (sameSchedule ? s.updateRecurringKeepSchedule : s.updateRecurringNewSchedule).run({ ...spec, id: existing.id });
      return s.selectRecurring.get(existing.id)!;
    }, { transaction: true, onReplaced: 'again' });
    this.#conn.changedHere('recurring');
    return record;
  }

  async claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    const claimed = this.#conn.write((s, database) => claimJobs(s, request, database), { transaction: true, onReplaced: 'moot', onMoot: () => [] });
    return claimed;
  }

  async complete(completions: readonly Completion[]): Promise<Refusals> {
    if (completions.length === 0) return { refused: [], gone: [] };
    const { refused, gone } = this.#recordThen(completions, () => undefined, undefined);
    this.#conn.changedHere('outcomes');
    return { refused, gone };
  }

  async completeAndClaim(completions: readonly Completion[], request: ClaimRequest): Promise<Refusals & { claimed: ClaimedJob[] }> {
    const { refused, gone, result: claimed } = this.#recordThen(completions, (s, database) => claimJobs(s, request, database), []);
    if (completions.length > 0) this.#conn.changedHere('outcomes');
    return { refused, gone, claimed };
  }

  async heartbeat(owner: string, held: readonly AttemptRef[], now: number): Promise<AttemptRef[]> {
    const holding = this.#conn.write((s, database) => {
      const ownerId = s.knownOwnerId(owner);
      if (ownerId === null) return { database, attempts: new Map<number, number>() };
      s.beat.run({ owner: ownerId, now });
      return { database, attempts: new Map(s.heldBy.all(ownerId)) };
    }, { transaction: true, onReplaced: 'moot', onMoot: () => ({ database: '', attempts: new Map<number, number>() }) });
    return held.filter((a) => a.database !== holding.database || holding.attempts.get(a.id) !== a.attempt);
  }

  async applyDefaults(owner: string, defaults: readonly (AttemptRef & { readonly maxAttempts: number; readonly timeoutMs: number | null })[]): Promise<void> {
    if (defaults.length === 0) return;
    this.#conn.write((s, database) => {
      const ownerId = s.knownOwnerId(owner);
      for (const d of defaults) {
        if (d.database === database) s.applyDefaults.run({ id: d.id, attempt: d.attempt, owner: ownerId, maxAttempts: d.maxAttempts, timeoutMs: d.timeoutMs });
      }
    }, { transaction: true, onReplaced: 'moot' });
  }

  async release(owner: string, attempts: readonly AttemptRef[], now: number): Promise<void> {
    this.#conn.write((s, database) => {
      const ownerId = s.knownOwnerId(owner);
      for (const a of attempts) {
        if (a.database === database && s.releaseJob.run({ id: a.id, attempt: a.attempt, owner: ownerId, now }).changes === 1) s.flow.changed(sql.STATE.running, [a.id]);
      }
    }, { transaction: true, onReplaced: 'moot' });
    this.#requeuedOrFinished();
  }

  async ownerBeats(): Promise<OwnerBeat[]> {
    return this.#conn.statements().ownerBeats.all();
  }

  async abandon(owner: string, now: number, error: JobErrorInfo, options: { beat?: number; isolate?: boolean } = {}): Promise<number> {
    const abandoned = this.#conn.write((s) => {
      const ownerId = s.knownOwnerId(owner);
      if (ownerId === null) return 0;
      // Compare-and-set on the beat: an owner that beat since it was judged dead is alive after all.
      if (options.beat !== undefined && s.ownerBeat.get(ownerId) !== options.beat) return 0;
      const lost = { owner: ownerId, now, name: error.name, message: error.message, isolate: options.isolate === true ? 1 : 0 };
      s.recordAbandonedErrors.run(lost);
      const running = s.flow.inUse ? s.heldBy.all(ownerId).map(([id]) => id) : [];
      const changes = s.abandonOwner.run(lost).changes;
      s.flow.changed(sql.STATE.running, running);
      s.deleteOwner.run({ id: ownerId }); // it is gone
      return changes;
    }, { transaction: true, onReplaced: 'moot', onMoot: () => 0 });
    if (abandoned > 0) this.#requeuedOrFinished();
    return abandoned;
  }

  async retire(owner: string): Promise<void> {
    this.#conn.write((s) => {
      const ownerId = s.knownOwnerId(owner);
      if (ownerId !== null) s.deleteOwner.run({ id: ownerId });
    }, { transaction: true, onReplaced: 'moot' });
  }

  async runningJobs(owner: string): Promise<RunningJob[]> {
    const s = this.#conn.statements();
    const database = this.#conn.databaseId;
    return s.runningJobsOf.all(s.knownOwnerId(owner)).map((job) => ({ ...job, database }));
  }

  async cancelRequests(owner: string): Promise<number[]> {
    const s = this.#conn.statements();
    return s.cancelRequestsOf.all(s.knownOwnerId(owner));
  }

  async cancel(id: number, now: number): Promise<CancelOutcome> {
    const outcome = this.#conn.write((s): CancelOutcome => {
      if (s.cancelWaiting.run({ id, now }).changes === 1) {
        s.flow.changed(sql.STATE.waiting, [id]);
        return 'cancelled';
      }
      if (s.requestCancel.run({ id }).changes === 1) return 'requested';
      if (s.selectJob.get(id) === undefined) throw new JobNotFoundError(id);
      return 'finished';
    }, { transaction: true, onReplaced: 'moot', onMoot: () => { throw new DatabaseReplacedError(`job ${id}`, this.path); } });
    if (outcome === 'requested') this.#conn.changedHere('work');
    if (outcome === 'cancelled') this.#conn.changedHere('outcomes');
    return outcome;
  }

  async retry(id: number, now: number): Promise<boolean> {
    const retried = this.#conn.write((s) => {
      try {
        const waitFor = parentsForRetry(s.parents, id);
        if (s.retryJob.run({ id, now }).changes === 1) {
          s.retryReleasesFlow.run(id);
          if (waitFor !== undefined) rewaitRetried(s.parents, id, waitFor, now);
          bringBackDependants(s.parents, id);
          return true;
        }
      } catch (error) {
        if ((error as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw error;
        const job = s.selectJob.get(id)!;
        const active = s.selectActiveByKey.get(s.targetId(job.service, job.method), job.key!);
        throw new InvalidArgumentError(`job ${id} cannot be retried: job ${active} with the same key "${job.key}" is waiting or running`);
      }
      if (s.selectJob.get(id) === undefined) throw new JobNotFoundError(id);
      return false;
    }, { transaction: true, onReplaced: 'moot', onMoot: () => { throw new DatabaseReplacedError(`job ${id}`, this.path); } });
    if (retried) this.#conn.changedHere('work');
    return retried;
  }

  async prune(cutoffs: PruneCutoffs, budget: PruneBudget): Promise<number> {
    return this.#pruneSweep.run(this.#conn, cutoffs, budget);
  }

  async stats(now: number): Promise<JobStats> {
    const s = this.#conn.statements();
    // One read transaction: every figure from the same snapshot, whatever other processes commit meanwhile.
    return this.#conn.db.transaction(() => {
      const active = s.statsActive.get({ now })!;
      const counts: Record<JobState, number> = { waiting: active.waiting, running: active.running, succeeded: 0, failed: 0, cancelled: 0 };
      for (const { state, count } of s.statsFinished.all()) counts[sql.STATE_NAMES[state]!] = count;
      const earliest = active.earliestRunAt;
      return {
        at: now,
        counts,
        due: active.due,
        // The earliest run time of all waiting jobs is the longest-due one's, if it is due at all.
        oldestDueMs: earliest !== null && earliest <= now ? now - earliest : null,
        failuresLastHour: s.failuresSince.all({ since: now - STATS_WINDOW_MS }),
      };
    })();
  }

  async workers(now: number): Promise<WorkerInfo[]> {
    return this.#conn.statements().workers.all().map((row) => workerInfo(row.owner, row.runningJobs, row.beatAt, row.beatAt === null ? null : now - row.beatAt));
  }

  async nextRecurringAt(): Promise<number | null> {
    return this.#conn.statements().nextRecurringAt.get() ?? null;
  }

  async dueRecurring(now: number): Promise<RecurringRecord[]> {
    return this.#conn.statements().dueRecurring.all(now);
  }

  async pauseRecurring(id: number, at: number): Promise<boolean> {
    return this.#conn.write((s) => s.pauseRecurring.run({ id, at }).changes === 1, { transaction: false, onReplaced: 'moot', onMoot: () => false });
  }

  async resumeRecurring(id: number, nextRunAt: number): Promise<boolean> {
    const found = this.#conn.write((s) => s.resumeRecurring.run({ id, nextRunAt }).changes === 1, { transaction: false, onReplaced: 'moot', onMoot: () => false });
    if (found) this.#conn.changedHere('recurring');
    return found;
  }

  async fireRecurring(id: number, expectedNextRunAt: number, fireTimes: readonly number[], nextRunAt: number, now: number): Promise<boolean> {
    return this.#conn.write((s) => {
      if (s.advanceRecurring.run({ id, expected: expectedNextRunAt, nextRunAt }).changes === 0) return false;
      for (const fireTime of fireTimes) s.enqueueOccurrence.run({ id, fireTime, now });
      return true;
    }, { transaction: true, onReplaced: 'moot', onMoot: () => false });
  }

  async nextJobAt(): Promise<number | null> {
    const s = this.#conn.statements();
    let earliest = Number.POSITIVE_INFINITY;
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
    const s = this.#conn.statements();
    const row = s.selectJob.get(id);
    return row === undefined ? undefined : toJobRecord(row, this.#conn.databaseId);
  }

  async parentOutcomes(database: string, ids: readonly number[]): Promise<Map<number, ParentOutcome[]>> {
    if (database !== this.#conn.databaseId) throw new DatabaseReplacedError(`jobs ${ids.join(', ')}`, this.path);
    if (ids.length === 0) return new Map();
    return toParentOutcomes(this.#conn.statements().parents.parentOutcomes.all(JSON.stringify(ids)), stateName);
  }

  async pause(service: string, method: string | null, now: number): Promise<boolean> {
    return this.#conn.write((s) => pauseTarget(s, service, method, now), { transaction: true, onReplaced: 'again' });
  }

  async resume(service: string, method: string | null): Promise<boolean> {
    const resumed = this.#conn.write((s) => resumeTarget(s, service, method), { transaction: true, onReplaced: 'again' });
    if (resumed) this.#conn.changedHere('work');
    return resumed;
  }

  async setRateLimit(limit: RateLimit): Promise<void> {
    this.#conn.write((s) => s.rate.set.run(limit), { transaction: false, onReplaced: 'again' });
    this.#conn.changedHere('work');
  }

  async listRateLimits(): Promise<RateLimit[]> {
    return this.#conn.statements().rate.list.all();
  }

  async rateLimitUse(now: number): Promise<RateLimitUse[]> {
    return this.#conn.statements().rate.use.all({ now });
  }

  async listPaused(): Promise<PausedTarget[]> {
    return toPausedTargets(this.#conn.statements().pause.all.all());
  }

  async concurrencyKeys(limit: number): Promise<ConcurrencyKeyUse[]> {
    return this.#conn.statements().concurrency.inUse.all(limit);
  }

  async dependantsOf(id: number): Promise<number[]> {
    return this.#conn.statements().parents.dependantsOf.all(id);
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
    const database = this.#conn.databaseId;
    return rows.map((row) => toJobRecord(row, database));
  }

  async searchJobs(search: JobSearch, page: JobPageRequest): Promise<JobPage> {
    const { rows, next } = dashboard.searchJobs(this.#conn.statements(), search, page);
    const database = this.#conn.databaseId;
    return { jobs: rows.map((row) => toJobRecord(row, database)), next };
  }

  async countJobs(search: JobSearch, cap: number): Promise<number> {
    return dashboard.countJobs(this.#conn.statements(), search, cap);
  }

  async runNow(id: number, now: number): Promise<boolean> {
    const moved = this.#conn.write((s) => dashboard.runNow(s, id, now), {
      transaction: true, onReplaced: 'moot', onMoot: () => { throw new DatabaseReplacedError(`job ${id}`, this.path); },
    });
    if (moved) this.#conn.changedHere('work');
    return moved;
  }

  async deleteJob(id: number): Promise<DeleteOutcome> {
    return this.#conn.write((s) => dashboard.deleteJob(s, id), {
      transaction: true, onReplaced: 'moot', onMoot: () => { throw new DatabaseReplacedError(`job ${id}`, this.path); },
    });
  }

  async activity(since: number, scanIds: number): Promise<Activity> {
    return dashboard.activity(this.#conn.statements(), since, scanIds);
  }

  async attemptFailures(afterId: number | null, limit: number): Promise<AttemptFailures> {
    return dashboard.attemptFailures(this.#conn.statements(), afterId, limit);
  }

  async listRecurring(): Promise<RecurringRecord[]> {
    return this.#conn.statements().listRecurring.all();
  }

  async clearRecurring(): Promise<number> {
    return this.#conn.write((s) => s.deleteAllRecurring.run().changes, { transaction: false, onReplaced: 'moot', onMoot: () => 0 });
  }

  async removeRecurring(service: string, method: string, name: string): Promise<boolean> {
    return this.#conn.write((s) => s.deleteRecurring.run(service, method, name).changes === 1, { transaction: false, onReplaced: 'again' });
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

  /**
   * {@link recordOutcomesThen} in one transaction on the file at the path. If
   * that file was deleted under the commit, its jobs are gone: every outcome
   * is `gone`, and `fn`'s result is `moot` (nothing claimed from it counts).
   */
  #recordThen<T>(completions: readonly Completion[], fn: (s: Statements, database: string) => T, moot: T): Refusals & { result: T } {
    return this.#conn.write(
      (_s, database, transaction) => recordOutcomesThen(transaction, database, completions, (s) => fn(s, database)),
      { transaction: false, onReplaced: 'moot', onMoot: () => ({ refused: [], gone: completions.map((c) => c.id), result: moot }) },
    );
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

function toJobRecord(row: JobRow, database: string): JobRecord {
  const { progressCurrent, progressTotal, progressAt, isolated, afterIds, concurrencyKey, concurrencyLimit, parked, held, ...rest } = row;
  return {
    ...rest,
    held: held === 1,
    concurrency: concurrencyKey === null ? null : { key: concurrencyKey, limit: concurrencyLimit ?? 1 },
    parked: parked === 1,
    after: afterIds === null ? [] : (JSON.parse(afterIds) as number[]),
    isolated: isolated === 1,
    database,
    state: row.state as JobState,
    error: row.error === null ? null : (JSON.parse(row.error) as JobErrorInfo),
    tags: row.tags === null ? [] : (JSON.parse(row.tags) as string[]),
    progress: progressCurrent === null || progressTotal === null || progressAt === null ? null : { current: progressCurrent, total: progressTotal, at: progressAt },
  };
}

const STATE_NAMES = new Map<number, JobState>(Object.entries(sql.STATE).map(([name, value]) => [value, name as JobState]));

function stateName(state: number): JobState {
  return STATE_NAMES.get(state) ?? 'cancelled';
}

/** Whether iterating `jobs` again would not give the same jobs (a generator, an iterator). */
function isOneShot(jobs: Iterable<NewJob>): boolean {
  if (Array.isArray(jobs)) return false;
  const iterator = jobs[Symbol.iterator]();
  return (iterator as unknown) === jobs;
}
