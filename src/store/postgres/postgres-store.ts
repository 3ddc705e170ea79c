import { randomBytes } from 'node:crypto';
import { DatabaseReplacedError } from '../../errors.ts';
import type {
  Activity, AttemptFailures, DeleteOutcome, JobPage, JobPageRequest, JobSearch,
  AddedJob, AddedJobs, AttemptError, AttemptRef, CancelOutcome, ClaimedJob, ConcurrencyKeyUse, ClaimRequest, Completion, JobErrorInfo, JobFilter, JobNote,
  JobOutcome, JobPulse, JobRecord, JobStats, JobStore, NewJob, OwnerBeat, ParentOutcome, PausedTarget, ProgressUpdate, RateLimit, RateLimitUse, PruneBudget, PruneCutoffs,
  RecurringRecord, RecurringSpec, Refusals, RunningJob, StoreChange, WorkerInfo,
} from '../job-store.ts';
import { hasParents, refuseEntryRefs } from '../parent-refs.ts';
import { cancelJob, cancelRetryStatements, retryJob, useFlowForRetry } from './cancel-retry.ts';
import { ClaimHint, claimJobs, claimStatements } from './claim-jobs.ts';
import * as dashboard from './dashboard-queries.ts';
import { GroupedAdds } from './grouped-adds.ts';
import { bringBackDependants, parentOutcomes, parentsForRetry, parentStatements, rewaitRetried } from './job-parents.ts';
import { listPaused, pauseStatements, pauseTarget, resumeTarget } from './pause.ts';
import { insertAll, insertStatements } from './insert-jobs.ts';
import { checkSchemaName, migrate } from './migrate.ts';
import { ChangeFeed, channelOf, Notifier } from './notifications.ts';
import { describeDatabase, resolveOptions, type PostgresStoreOptions, type ResolvedOptions } from './options.ts';
import { cancelRequests, heartbeat, ownerBeats, ownerStatements, runningJobs } from './owners.ts';
import { clientConfig, Connections } from './pool.ts';
import { PruneSweep, pruneStatements } from './prune-sweep.ts';
import * as read from './read-jobs.ts';
import * as readStats from './read-stats.ts';
import { outcomesAndClaimStatements, recordOutcomes, recordOutcomesAndClaim, recordOutcomesStatement } from './record-outcomes.ts';
import { recordProgress, recordProgressStatement } from './record-progress.ts';
import { fireRecurring, recurringStatements, upsertRecurring } from './recurring.ts';
import { schemaOf, type Schema } from './schema.ts';
import { abandonOwner, applyDefaults, releaseJobs, retireOwner, takeBackStatements } from './take-back.ts';

export type { PostgresStoreOptions } from './options.ts';

/**
 * SQLSTATEs that mean the schema (or a table or function of it) is not
 * there: someone dropped it to clear every job (README). The store makes it
 * anew, with a new database identity, and runs the call again; the call that
 * failed changed nothing.
 */
const SCHEMA_MISSING = new Set(['3F000', '42P01', '42883']);

/**
 * The PostgreSQL implementation of {@link JobStore}, for workers on several
 * hosts sharing one server. Everything is in one schema (`options.schema`);
 * see migrations/0001_initial.sql for the tables and why.
 *
 * Clocks. Whether a job is due, and when a failed attempt's retry falls due,
 * is judged by the database server's clock, one for every host: a claim
 * ignores `request.now`, and a failed completion's `retryAt` is applied as
 * the delay `retryAt - at` from the server's now. The instants the store
 * records for state changes (`startedAt`, `finishedAt`, the `at` of an
 * attempt's error, a beat's time) are the server's too, so one job's times
 * come from one clock; the `at`/`now` arguments of `complete`, `release`,
 * `abandon`, `cancel`, `retry` and `heartbeat` are not used. Instants the
 * caller gives as data are stored as given: a job's `runAt` and `createdAt`,
 * a recurring spec's times, progress and note times. `dueRecurring(now)` and
 * `fireRecurring` go by the caller's clock, because the caller computes the
 * fire times from it; each occurrence is still enqueued once (a
 * compare-and-set and a primary key), whatever the clocks.
 *
 * Liveness is by beat counts (`owners.beat`), never by comparing clocks.
 *
 * Failures. A call waits up to `connectTimeoutMs` for a connection while the
 * server is down, restarting or failing over, then rejects with
 * DatabaseUnavailableError naming the database. A write that may have
 * committed is never repeated (it rejects instead); reads, heartbeats,
 * releases and pruning, which may run twice harmlessly, are retried.
 * `claim` and `completeAndClaim` can therefore lease jobs whose answer was
 * lost with the connection: a worker that saw one fail compares
 * `runningJobs(owner)` with what it runs and releases the rest.
 *
 * Ids are never reused (a sequence); pruning still never deletes the newest
 * job, as the contract says for every store.
 */
export class PostgresStore implements JobStore {
  /** How messages name this database: the URL without its password, and the schema. */
  readonly description: string;
  readonly schema: string;
  readonly #options: ResolvedOptions;
  readonly #db: Connections;
  readonly #sql;
  /** The schema, quoted, for the few statements written here. */
  readonly #sqlSchema: string;
  readonly #adds: GroupedAdds;
  readonly #prune = new PruneSweep();
  readonly #notifier: Notifier;
  readonly #feed: ChangeFeed;
  readonly #listeners = new Set<(change: StoreChange) => void>();
  #localChanges: StoreChange[] = [];
  #migrating: Promise<void> | undefined;
  /** For the dashboard's queries, built per call from their filters. */
  readonly #schema: Schema;
  /** Which claim runs first: the plain one while claims meet no limits (see ClaimPaths). */
  readonly #claimHint = new ClaimHint();
  #closed = false;

  private constructor(options: ResolvedOptions) {
    this.#options = options;
    this.schema = options.schema;
    this.description = describeDatabase(options.url, options.schema);
    const s = schemaOf(options.schema);
    this.#sqlSchema = s.q;
    this.#schema = s;
    this.#sql = {
      insert: insertStatements(s),
      claim: claimStatements(s),
      outcomes: recordOutcomesStatement(s),
      outcomesAndClaim: outcomesAndClaimStatements(s),
      progress: recordProgressStatement(s),
      takeBack: takeBackStatements(s),
      owners: ownerStatements(s),
      cancelRetry: cancelRetryStatements(s),
      recurring: recurringStatements(s),
      read: read.readStatements(s),
      stats: readStats.statsStatements(s),
      prune: pruneStatements(s),
      parents: parentStatements(s),
      pause: pauseStatements(s),
    };
    const pool = { url: options.url, poolSize: options.poolSize, connectTimeoutMs: options.connectTimeoutMs, queryTimeoutMs: options.queryTimeoutMs, description: this.description, logger: options.logger };
    this.#db = new Connections(pool);
    this.#adds = new GroupedAdds(this.#db, this.#sql.insert, this.#sql.parents, () => this.#database(), (fn) => this.#run(fn));
    const instance = randomBytes(8).toString('hex');
    const channel = channelOf(options.schema);
    this.#notifier = new Notifier(this.#db, channel, instance, options.notifyCoalesceMs, options.logger);
    this.#feed = new ChangeFeed({
      client: clientConfig(pool),
      channel,
      instance,
      pollIntervalMs: options.pollIntervalMs,
      onChange: (change) => this.#tell(change),
      description: this.description,
      logger: options.logger,
    });
  }

  /**
   * Connects, and creates or migrates the schema (under an advisory lock, so
   * processes starting together are safe).
   * @throws SchemaTooNewError if a newer version of the scheduler migrated the schema.
   * @throws DatabaseUnavailableError if the server cannot be reached within `connectTimeoutMs`.
   */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const resolved = resolveOptions(options);
    checkSchemaName(resolved.schema);
    const store = new PostgresStore(resolved);
    try {
      await store.#migrate();
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  async addJob(job: NewJob): Promise<AddedJob> {
    refuseEntryRefs(job);
    const added = await this.#adds.add(job);
    this.#changed('work');
    return added;
  }

  async addJobs(jobs: Iterable<NewJob>): Promise<AddedJobs> {
    // Taken whole before the transaction: a transaction retried after a lost connection must not iterate it again.
    const list = Array.from(jobs);
    if (list.length === 0) return { database: await this.#database(), ids: [] };
    const database = list.some(hasParents) ? await this.#database() : '';
    const added = await this.#run(() => this.#db.transaction((client) => insertAll(client, this.#sql.insert, this.#sql.parents, list, database)));
    this.#changed('work');
    return { database: added.database!, ids: added.ids };
  }

  async upsertRecurring(spec: RecurringSpec): Promise<RecurringRecord> {
    // Idempotent: the same spec twice leaves the same row.
    const record = await this.#run(() => this.#db.read((client) => upsertRecurring(client, this.#sql.recurring, spec)));
    this.#changed('recurring');
    return record;
  }

  async claim(request: ClaimRequest): Promise<ClaimedJob[]> {
    return this.#run(() => this.#db.writeOnce((client) => claimJobs(client, this.#sql.claim, request, this.#claimHint)));
  }

  async complete(completions: readonly Completion[]): Promise<Refusals> {
    if (completions.length === 0) return { refused: [], gone: [] };
    const refusals = await this.#run(() => this.#db.pipelined((client) => recordOutcomes(client, this.#sql.outcomes, completions)));
    this.#finished(completions);
    return refusals;
  }

  async completeAndClaim(completions: readonly Completion[], request: ClaimRequest): Promise<Refusals & { claimed: ClaimedJob[] }> {
    const result = await this.#run(() => this.#db.pipelined((client) => recordOutcomesAndClaim(client, this.#sql.outcomesAndClaim, this.#sql.claim, completions, request, this.#claimHint)));
    this.#finished(completions);
    return result;
  }

  async recordProgress(updates: readonly ProgressUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    await this.#run(() => this.#db.pipelined((client) => recordProgress(client, this.#sql.progress, updates)));
    this.#changed('outcomes');
  }

  async pulse(database: string, ids: readonly number[]): Promise<JobPulse[]> {
    if (ids.length === 0) return [];
    return this.#run(() => this.#db.read((client) => read.pulse(client, this.#sql.read, database, ids, this.description)));
  }

  async outcomes(database: string, ids: readonly number[]): Promise<JobOutcome[]> {
    if (ids.length === 0) return [];
    return this.#run(() => this.#db.read((client) => read.outcomes(client, this.#sql.read, database, ids, this.description)));
  }

  async getJobNotes(id: number, afterId = 0, database?: string): Promise<JobNote[]> {
    return this.#run(() => this.#db.read((client) => read.jobNotes(client, this.#sql.read, id, afterId, database, this.description)));
  }

  /** Retried on a lost connection: a second beat is harmless. */
  async heartbeat(owner: string, held: readonly AttemptRef[], _now: number): Promise<AttemptRef[]> {
    return this.#run(() => this.#db.read((client) => heartbeat(client, this.#sql.owners, owner, held)));
  }

  /** Retried on a lost connection: a second release finds nothing held. */
  /** Retried on a lost connection: applying the same defaults twice is harmless. */
  async applyDefaults(owner: string, defaults: readonly (AttemptRef & { readonly maxAttempts: number; readonly timeoutMs: number | null })[]): Promise<void> {
    if (defaults.length === 0) return;
    await this.#run(() => this.#db.read((client) => applyDefaults(client, this.#sql.takeBack, owner, defaults)));
  }

  async release(owner: string, attempts: readonly AttemptRef[], _now: number): Promise<void> {
    if (attempts.length === 0) return;
    const released = await this.#run(() => this.#db.read((client) => releaseJobs(client, this.#sql.takeBack, owner, attempts)));
    if (released > 0) this.#requeuedOrFinished();
  }

  async ownerBeats(): Promise<OwnerBeat[]> {
    return this.#run(() => this.#db.read((client) => ownerBeats(client, this.#sql.owners)));
  }

  async abandon(owner: string, _now: number, error: JobErrorInfo, options: { readonly beat?: number; readonly isolate?: boolean } = {}): Promise<number> {
    const lost = await this.#run(() => this.#db.transaction((client) => abandonOwner(client, this.#sql.takeBack, owner, error, options)));
    if (lost > 0) this.#requeuedOrFinished();
    return lost;
  }

  async retire(owner: string): Promise<void> {
    await this.#run(() => this.#db.transaction((client) => retireOwner(client, this.#sql.takeBack, owner)));
  }

  async runningJobs(owner: string): Promise<RunningJob[]> {
    return this.#run(() => this.#db.read((client) => runningJobs(client, this.#sql.owners, owner)));
  }

  async cancelRequests(owner: string): Promise<number[]> {
    return this.#run(() => this.#db.read((client) => cancelRequests(client, this.#sql.owners, owner)));
  }

  async cancel(id: number, _now: number): Promise<CancelOutcome> {
    const outcome = await this.#run(() => this.#db.transaction((client) => cancelJob(client, this.#sql.cancelRetry, id)));
    if (outcome === 'requested') this.#changed('work');
    if (outcome === 'cancelled') this.#changed('outcomes');
    return outcome;
  }

  async retry(id: number, _now: number): Promise<boolean> {
    // With its parents' waits and the dependants its failure cancelled: one transaction.
    const retried = await this.#run(() => this.#db.transaction(async (client) => {
      await useFlowForRetry(client, this.#sql.cancelRetry, id);
      const waitFor = await parentsForRetry(client, this.#sql.parents, id);
      const done = await retryJob(client, this.#sql.cancelRetry, id);
      if (done) {
        if (waitFor !== undefined) await rewaitRetried(client, this.#sql.parents, id, waitFor);
        await bringBackDependants(client, this.#sql.parents, id);
      }
      return done;
    }));
    if (retried) this.#changed('work');
    return retried;
  }

  async parentOutcomes(database: string, ids: readonly number[]): Promise<Map<number, ParentOutcome[]>> {
    if (ids.length === 0) return new Map();
    const found = await this.#run(() => this.#db.read(async (client) => ({
      database: (await client.query<{ database: string }>({ name: 'database-id', text: this.#sql.read.database })).rows[0]!.database,
      outcomes: await parentOutcomes(client, this.#sql.parents, ids),
    })));
    if (found.database !== database) throw new DatabaseReplacedError(`jobs ${ids.join(', ')}`, this.description);
    return found.outcomes;
  }

  async pause(service: string, method: string | null, now: number): Promise<boolean> {
    return this.#run(() => this.#db.writeOnce((client) => pauseTarget(client, this.#sql.pause, service, method, now)));
  }

  async resume(service: string, method: string | null): Promise<boolean> {
    const resumed = await this.#run(() => this.#db.writeOnce((client) => resumeTarget(client, this.#sql.pause, service, method)));
    if (resumed) this.#changed('work');
    return resumed;
  }

  async setRateLimit(limit: RateLimit): Promise<void> {
    await this.#run(() => this.#db.writeOnce((client) => client.query({
      name: 'rate-limit-upsert',
      text: `INSERT INTO ${this.#sqlSchema}.rate_limits (name, max_starts, per_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET max_starts = EXCLUDED.max_starts, per_ms = EXCLUDED.per_ms`,
      values: [limit.name, limit.limit, limit.perMs],
    })));
    this.#changed('work');
  }

  async listRateLimits(): Promise<RateLimit[]> {
    const { rows } = await this.#run(() => this.#db.read((client) => client.query<RateLimit>({
      name: 'rate-limit-list', text: `SELECT name, max_starts AS "limit", per_ms AS "perMs" FROM ${this.#sqlSchema}.rate_limits ORDER BY name`,
    })));
    return rows;
  }

  async rateLimitUse(_now: number): Promise<RateLimitUse[]> {
    return this.#run(() => this.#db.read((client) => dashboard.rateLimitUse(client, this.#schema)));
  }

  async listPaused(): Promise<PausedTarget[]> {
    return this.#run(() => this.#db.read((client) => listPaused(client, this.#sql.pause)));
  }

  async concurrencyKeys(limit: number): Promise<ConcurrencyKeyUse[]> {
    return this.#run(() => this.#db.read((client) => dashboard.concurrencyKeys(client, this.#schema, limit)));
  }

  async dependantsOf(id: number): Promise<number[]> {
    const { rows } = await this.#run(() => this.#db.read((client) => client.query<{ job_id: number }>({ name: 'parents-dependants', text: this.#sql.parents.dependants, values: [id] })));
    return rows.map((row) => row.job_id);
  }

  async prune(cutoffs: PruneCutoffs, budget: PruneBudget): Promise<number> {
    return this.#run(() => this.#prune.run(this.#db, this.#sql.prune, cutoffs, budget));
  }

  /** By the server's clock, as due jobs are judged here: `now` is not used (see {@link JobStats.at}). */
  async stats(_now: number): Promise<JobStats> {
    return this.#run(() => this.#db.read((client) => readStats.stats(client, this.#sql.stats)));
  }

  /** Heartbeat ages by the server's clock, which recorded the beats: `now` is not used. */
  async workers(_now: number): Promise<WorkerInfo[]> {
    return this.#run(() => this.#db.read((client) => readStats.workers(client, this.#sql.stats)));
  }

  async nextRecurringAt(): Promise<number | null> {
    return this.#run(() => this.#db.read(async (client) => (await client.query<{ at: number | null }>({ name: 'next-recurring', text: this.#sql.recurring.next })).rows[0]!.at));
  }

  async dueRecurring(now: number): Promise<RecurringRecord[]> {
    return this.#run(() => this.#db.read(async (client) => (await client.query<RecurringRecord>({ name: 'due-recurring', text: this.#sql.recurring.due, values: [now] })).rows));
  }

  async pauseRecurring(id: number, at: number): Promise<boolean> {
    const { rowCount } = await this.#run(() => this.#db.read((client) => client.query({ name: 'pause-recurring', text: this.#sql.recurring.pause, values: [id, at] })));
    return rowCount === 1;
  }

  async resumeRecurring(id: number, nextRunAt: number): Promise<boolean> {
    const { rowCount } = await this.#run(() => this.#db.read((client) => client.query({ name: 'resume-recurring', text: this.#sql.recurring.resume, values: [id, nextRunAt] })));
    if (rowCount === 1) this.#changed('recurring');
    return rowCount === 1;
  }

  async fireRecurring(id: number, expectedNextRunAt: number, fireTimes: readonly number[], nextRunAt: number, now: number): Promise<boolean> {
    const advanced = await this.#run(() => this.#db.writeOnce((client) => fireRecurring(client, this.#sql.recurring, id, expectedNextRunAt, fireTimes, nextRunAt, now)));
    if (advanced) this.#changed('work');
    return advanced;
  }

  async nextJobAt(): Promise<number | null> {
    return this.#run(() => this.#db.read(async (client) => (await client.query<{ at: number | null }>({ name: 'next-job-at', text: this.#sql.read.nextJobAt })).rows[0]!.at));
  }

  async getJob(id: number): Promise<JobRecord | undefined> {
    return this.#run(() => this.#db.read((client) => read.getJob(client, this.#sql.read, id)));
  }

  async getJobErrors(id: number): Promise<AttemptError[]> {
    return this.#run(() => this.#db.read((client) => read.jobErrors(client, this.#sql.read, id)));
  }

  async listJobs(filter: JobFilter = {}): Promise<JobRecord[]> {
    return this.#run(() => this.#db.read((client) => read.listJobs(client, this.#sql.read, filter)));
  }

  async searchJobs(search: JobSearch, page: JobPageRequest): Promise<JobPage> {
    return this.#run(() => this.#db.read((client) => dashboard.searchJobs(client, this.#schema, search, page)));
  }

  async countJobs(search: JobSearch, cap: number): Promise<number> {
    return this.#run(() => this.#db.read((client) => dashboard.countJobs(client, this.#schema, search, cap)));
  }

  async runNow(id: number, _now: number): Promise<boolean> {
    const moved = await this.#run(() => this.#db.writeOnce((client) => dashboard.runNow(client, this.#schema, id)));
    if (moved) this.#changed('work');
    return moved;
  }

  async deleteJob(id: number): Promise<DeleteOutcome> {
    return this.#run(() => this.#db.transaction((client) => dashboard.deleteJob(client, this.#schema, id)));
  }

  async activity(since: number, scanIds: number): Promise<Activity> {
    return this.#run(() => this.#db.read((client) => dashboard.activity(client, this.#schema, since, scanIds)));
  }

  async attemptFailures(afterId: number | null, limit: number): Promise<AttemptFailures> {
    return this.#run(() => this.#db.read((client) => dashboard.attemptFailures(client, this.#schema, afterId, limit)));
  }

  async listRecurring(): Promise<RecurringRecord[]> {
    return this.#run(() => this.#db.read(async (client) => (await client.query<RecurringRecord>({ name: 'list-recurring', text: this.#sql.recurring.list })).rows));
  }

  async clearRecurring(): Promise<number> {
    return this.#run(() => this.#db.writeOnce(async (client) => (await client.query(this.#sql.recurring.clear)).rowCount ?? 0));
  }

  async removeRecurring(service: string, method: string, name: string): Promise<boolean> {
    return this.#run(() => this.#db.writeOnce(async (client) => (await client.query({ name: 'remove-recurring', text: this.#sql.recurring.remove, values: [service, method, name] })).rowCount === 1));
  }

  /**
   * See {@link JobStore.onChange}. The first listener starts this process's
   * LISTEN connection and backstop tick (see notifications.ts); the last
   * one to leave stops them, so a short CLI command opens no such connection.
   */
  onChange(listener: (change: StoreChange) => void): () => void {
    this.#listeners.add(listener);
    this.#feed.start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) void this.#feed.stop();
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#notifier.close();
    await this.#feed.stop();
    await this.#db.close();
  }

  /** Runs `fn`; if the schema is gone (dropped to clear every job), makes it anew and runs `fn` once more. */
  async #run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (!SCHEMA_MISSING.has((error as { code?: string }).code ?? '') || this.#closed) throw error;
      this.#options.logger?.warn({ database: this.description }, 'the jobs schema was dropped; creating a new one');
      await this.#migrate();
      this.#tell('any');
      return await fn();
    }
  }

  /** One migration at a time per store; concurrent callers share it. */
  #migrate(): Promise<void> {
    this.#migrating ??= this.#db
      .read(async (client) => { await migrate(client, this.schema, this.description); })
      .finally(() => { this.#migrating = undefined; });
    return this.#migrating;
  }

  async #database(): Promise<string> {
    return this.#run(() => this.#db.read(async (client) => (await client.query<{ database: string }>({ name: 'database-id', text: this.#sql.read.database })).rows[0]!.database));
  }

  #finished(completions: readonly Completion[]): void {
    if (completions.length === 0) return;
    this.#changed('outcomes');
    // A failed attempt may have gone back to wait for its retry: workers recompute when to wake.
    if (completions.some((c) => c.outcome === 'failed')) this.#changed('work');
  }

  /** Jobs taken from their worker went back to waiting or finished: tell both kinds of listener. */
  #requeuedOrFinished(): void {
    this.#changed('work');
    this.#changed('outcomes');
  }

  /** A change this process committed: its own listeners are told here, other processes by NOTIFY. */
  #changed(change: 'work' | 'outcomes' | 'recurring'): void {
    this.#notifier.notify(change);
    this.#tell(change);
  }

  /** Coalesced to one call per change kind per turn of the event loop. */
  #tell(change: StoreChange): void {
    if (this.#listeners.size === 0 || this.#localChanges.includes(change)) return;
    if (this.#localChanges.length === 0) {
      setImmediate(() => {
        const changes = this.#localChanges;
        this.#localChanges = [];
        for (const listener of this.#listeners) for (const c of changes) listener(c);
      });
    }
    this.#localChanges.push(change);
  }
}
