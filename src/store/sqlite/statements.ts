import type { Database, Statement } from 'better-sqlite3';
import type { AttemptError, JobNote, JobOutcome, JobRecord, MethodFailures, OwnerBeat, RecurringRecord, RunningJob } from '../job-store.ts';
import { ConcurrencyStatements } from './concurrency-keys.ts';
import { DebounceStatements } from './debounce.ts';
import { FlowTriggers } from './flow-triggers.ts';
import { FlowStatements } from './job-flow.ts';
import { ParentStatements } from './job-parents.ts';
import { PauseStatements } from './pause.ts';
import { RateStatements } from './rate-limits.ts';
import * as sql from './queries.ts';

/** A `jobs` row (with its job_flow row's columns) as the job queries select it: a {@link JobRecord} before its JSON and progress columns are mapped. */
export type JobRow = Omit<JobRecord, 'error' | 'state' | 'tags' | 'progress' | 'isolated' | 'database' | 'after' | 'concurrency' | 'parked' | 'held'> & {
  /** rateLimit comes as it is. */
  held: number;
  afterIds: string | null;
  concurrencyKey: string | null;
  concurrencyLimit: number | null;
  parked: number;
  state: string;
  error: string | null;
  tags: string | null;
  progressCurrent: number | null;
  progressTotal: number | null;
  progressAt: number | null;
  isolated: number;
};

/** A row of {@link sql.pulse}. */
export interface PulseRow {
  readonly id: number;
  readonly state: string;
  readonly progressCurrent: number | null;
  readonly progressTotal: number | null;
  readonly progressAt: number | null;
  readonly lastNoteId: number;
}

/** A job's columns in the order {@link sql.insertJob} binds them: targetId, params, priority, runAt, maxAttempts, timeoutMs, createdAt, tags. */
export type InsertValues = [number, string, number, number, number, number | null, number, string | null];

/** The values {@link sql.insertSharedJobRows} binds once for all its rows. */
export interface SharedInsertValues {
  targetId: number;
  priority: number;
  maxAttempts: number;
  timeoutMs: number | null;
  createdAt: number;
  tags: string | null;
}

/**
 * A row of {@link sql.selectClaimable}, read raw: id, targetId, params,
 * attempt, maxAttempts, timeoutMs, isolated, flow (1: it has a job_flow row, see job-flow.ts).
 */
export type ClaimedRow = [number, number, string, number, number, number | null, number, number];

/** What {@link sql.markClaimed} binds. */
export interface MarkClaimedValues {
  owner: number;
  now: number;
  limit: number;
}

/** A job's method: see migration 0007. */
export interface Target {
  readonly service: string;
  readonly method: string;
}

/** A `job_errors` row: an {@link AttemptError} whose stack may be null. */
export type AttemptErrorRow = Omit<AttemptError, 'stack'> & { stack: string | null };

/** A row of {@link sql.selectOutcomes}: a {@link JobOutcome} with its error still JSON text. */
export type OutcomeRow = Omit<JobOutcome, 'error'> & { error: string | null };

/** A row of {@link sql.statsActive}. */
export interface StatsActiveRow {
  readonly waiting: number;
  readonly due: number;
  readonly earliestRunAt: number | null;
  readonly running: number;
}

/** A row of {@link sql.workers}. */
export interface WorkerRow {
  readonly owner: string;
  readonly beatAt: number | null;
  readonly runningJobs: number;
}

/** Prepared once per connection; re-prepared when the file is reopened. */
export class Statements {
  readonly insertJob: Statement<InsertValues>;
  readonly insertJobRows: Statement<[unknown[]]>;
  readonly insertSharedJobRows: Statement<[unknown[], SharedInsertValues]>;
  readonly insertKeyedJob: Statement<[...InsertValues, string]>;
  readonly selectActiveByKey: Statement<[number, string], number>;
  readonly recordProgress: Statement;
  readonly insertNote: Statement;
  readonly selectNotes: Statement<[number, number], JobNote>;
  readonly pulse: Statement<[string], PulseRow>;
  readonly selectOutcomes: Statement<[string], OutcomeRow>;
  readonly selectClaimable: Statement<{ now: number; limit: number }, ClaimedRow>;
  readonly selectClaimableAny: Statement<{ now: number; limit: number }, ClaimedRow>;
  readonly markClaimed: Statement<[MarkClaimedValues]>;
  readonly markClaimedAny: Statement<[MarkClaimedValues]>;
  readonly #insertTarget: Statement<[string, string]>;
  readonly #selectTargetId: Statement<[string, string], number>;
  readonly #selectTarget: Statement<[number], Target>;
  /** Targets of this file both ways, filled on first use: a target is never deleted, and a new file has new statements. */
  readonly #targetIds = new Map<string, Map<string, number>>();
  readonly #targets = new Map<number, Target>();
  readonly #insertOwner: Statement<[string]>;
  readonly #selectOwnerId: Statement<[string], number>;
  readonly deleteOwner: Statement<[{ id: number }]>;
  /** Lease owners of this file by name, filled on first use; see {@link ownerId}. */
  readonly #ownerIds = new Map<string, number>();
  /** Takes out of the caches what the transaction under way put in them: see {@link settle}. */
  #undo: (() => void)[] = [];
  /** By batch size, prepared on first use: see {@link successStatements}. */
  readonly #successes = new Map<number, SuccessStatements>();
  readonly #db: Database;
  #parents: ParentStatements | undefined;
  #concurrency: ConcurrencyStatements | undefined;
  #debounce: DebounceStatements | undefined;
  #pause: PauseStatements | undefined;
  #rate: RateStatements | undefined;
  #flowRows: FlowStatements | undefined;
  /** See flow-triggers.ts: checked by every write transaction (Connection). */
  readonly flow: FlowTriggers;
  /** Statements whose text is built at run time (a search's filters), by text; see {@link adHoc}. */
  readonly #adHoc = new Map<string, Statement>();
  readonly completeFailed: Statement;
  readonly recordAttemptError: Statement;
  readonly completeCancelled: Statement;
  readonly beat: Statement<[{ owner: number | null; now: number }]>;
  readonly heldBy: Statement<[number], [number, number]>;
  readonly releaseJob: Statement;
  readonly applyDefaults: Statement;
  readonly abandonOwner: Statement;
  readonly recordAbandonedErrors: Statement;
  readonly ownerBeats: Statement<[], OwnerBeat>;
  readonly ownerBeat: Statement<[number], number>;
  readonly statsActive: Statement<[{ now: number }], StatsActiveRow>;
  readonly statsFinished: Statement<[], { state: number; count: number }>;
  readonly failuresSince: Statement<[{ since: number }], MethodFailures>;
  readonly workers: Statement<[], WorkerRow>;
  readonly runningJobsOf: Statement<[number | null], Omit<RunningJob, 'database'>>;
  readonly cancelRequestsOf: Statement<[number | null], number>;
  readonly cancelWaiting: Statement;
  readonly requestCancel: Statement;
  readonly retryJob: Statement;
  readonly retryReleasesFlow: Statement<[number]>;
  readonly selectJobErrors: Statement<[number], AttemptErrorRow>;
  readonly pruneJobErrors: Statement;
  readonly pruneJobNotes: Statement;
  readonly pruneJobParents: Statement;
  readonly pruneJobFlow: Statement;
  readonly pruneJobs: Statement;
  readonly maxJobId: Statement<[], number | null>;
  readonly anyPrunable: Statement<Record<string, number | null>, number>;
  readonly firstJobIdAfter: Statement<[number], number>;
  readonly selectJob: Statement<[number], JobRow>;
  readonly listJobs: Statement<Record<string, number | string>, JobRow>;
  readonly listJobsFiltered: Statement<Record<string, number | string | null>, JobRow>;
  readonly nextWaitingBelowPriority: Statement<{ below: number }, { priority: number; runAt: number }>;
  readonly minWaitingRunAt: Statement<[], number | null>;
  readonly selectRecurringBySignature: Statement<[string, string, string], RecurringRecord>;
  readonly selectRecurring: Statement<[number], RecurringRecord>;
  readonly listRecurring: Statement<[], RecurringRecord>;
  readonly nextRecurringAt: Statement<[], number | null>;
  readonly dueRecurring: Statement<[number], RecurringRecord>;
  readonly deleteAllRecurring: Statement;
  readonly deleteRecurring: Statement;
  readonly insertRecurring: Statement;
  readonly updateRecurringKeepSchedule: Statement;
  readonly updateRecurringNewSchedule: Statement;
  readonly advanceRecurring: Statement;
  readonly pauseRecurring: Statement<[{ id: number; at: number }]>;
  readonly resumeRecurring: Statement<[{ id: number; nextRunAt: number }]>;
  readonly enqueueOccurrence: Statement;
  /** Read on every change signal: prepared once (`db.pragma()` prepares on each call). */
  readonly dataVersion: Statement<[], number>;
  readonly databaseId: Statement<[], string>;

  /** The statements of jobs that wait for others, prepared on first use: most files never need them. */
  get parents(): ParentStatements {
    return (this.#parents ??= new ParentStatements(this.#db));
  }

  /** The statements of job_flow rows (migration 0017), prepared on first use: only jobs using workflows or limits have one. */
  get flowRows(): FlowStatements {
    return (this.#flowRows ??= new FlowStatements(this.#db));
  }

  /** The statements of per-key concurrency, prepared on first use. */
  get concurrency(): ConcurrencyStatements {
    return (this.#concurrency ??= new ConcurrencyStatements(this.#db));
  }

  /** The statements of debounced adds, prepared on first use. */
  get debounce(): DebounceStatements {
    return (this.#debounce ??= new DebounceStatements(this.#db));
  }

  /** The statements of rate limits, prepared on first use. */
  get rate(): RateStatements {
    return (this.#rate ??= new RateStatements(this.#db));
  }

  /** The statements of pause and resume, prepared on first use. */
  get pause(): PauseStatements {
    return (this.#pause ??= new PauseStatements(this.#db));
  }

  constructor(db: Database) {
    this.#db = db;
    this.flow = new FlowTriggers(db);
    this.insertJob = db.prepare<InsertValues>(sql.insertJob);
    this.insertJobRows = db.prepare<[unknown[]]>(sql.insertJobRows);
    this.insertSharedJobRows = db.prepare<[unknown[], SharedInsertValues]>(sql.insertSharedJobRows);
    this.insertKeyedJob = db.prepare<[...InsertValues, string]>(sql.insertKeyedJob);
    this.selectActiveByKey = db.prepare<[number, string], number>(sql.selectActiveByKey).pluck();
    this.recordProgress = db.prepare(sql.recordProgress);
    this.insertNote = db.prepare(sql.insertNote);
    this.selectNotes = db.prepare(sql.selectNotes);
    this.pulse = db.prepare(sql.pulse);
    this.selectOutcomes = db.prepare(sql.selectOutcomes);
    this.selectClaimable = db.prepare<{ now: number; limit: number }, ClaimedRow>(sql.selectClaimable).raw();
    this.selectClaimableAny = db.prepare<{ now: number; limit: number }, ClaimedRow>(sql.selectClaimableAny).raw();
    this.markClaimed = db.prepare<[MarkClaimedValues]>(sql.markClaimed);
    this.markClaimedAny = db.prepare<[MarkClaimedValues]>(sql.markClaimedAny);
    this.completeFailed = db.prepare(sql.completeFailed);
    this.recordAttemptError = db.prepare(sql.recordAttemptError);
    this.completeCancelled = db.prepare(sql.completeCancelled);
    this.beat = db.prepare<[{ owner: number | null; now: number }]>(sql.beat);
    this.heldBy = db.prepare<[number], [number, number]>(sql.heldBy).raw();
    this.releaseJob = db.prepare(sql.releaseJob);
    this.applyDefaults = db.prepare(sql.applyDefaults);
    this.abandonOwner = db.prepare(sql.abandonOwner);
    this.recordAbandonedErrors = db.prepare(sql.recordAbandonedErrors);
    this.ownerBeats = db.prepare<[], OwnerBeat>(sql.ownerBeats);
    this.ownerBeat = db.prepare<[number], number>(sql.ownerBeat).pluck();
    this.statsActive = db.prepare<[{ now: number }], StatsActiveRow>(sql.statsActive);
    this.statsFinished = db.prepare<[], { state: number; count: number }>(sql.statsFinished);
    this.failuresSince = db.prepare<[{ since: number }], MethodFailures>(sql.failuresSince);
    this.workers = db.prepare<[], WorkerRow>(sql.workers);
    this.runningJobsOf = db.prepare<[number | null], RunningJob>(sql.runningJobsOf);
    this.cancelRequestsOf = db.prepare<[number | null], number>(sql.cancelRequestsOf).pluck();
    this.cancelWaiting = db.prepare(sql.cancelWaiting);
    this.requestCancel = db.prepare(sql.requestCancel);
    this.retryJob = db.prepare(sql.retryJob);
    this.retryReleasesFlow = db.prepare<[number]>(sql.retryReleasesFlow);
    this.selectJobErrors = db.prepare(sql.selectJobErrors);
    this.pruneJobErrors = db.prepare(sql.pruneJobErrors);
    this.pruneJobNotes = db.prepare(sql.pruneJobNotes);
    this.pruneJobParents = db.prepare(sql.pruneJobParents);
    this.pruneJobFlow = db.prepare(sql.pruneJobFlow);
    this.pruneJobs = db.prepare(sql.pruneJobs);
    this.maxJobId = db.prepare<[], number | null>(sql.maxJobId).pluck();
    this.anyPrunable = db.prepare<Record<string, number | null>, number>(sql.anyPrunable).pluck();
    this.firstJobIdAfter = db.prepare<[number], number>(sql.firstJobIdAfter).pluck();
    this.selectJob = db.prepare(sql.selectJob);
    this.listJobs = db.prepare(sql.listJobs);
    this.listJobsFiltered = db.prepare(sql.listJobsFiltered);
    this.nextWaitingBelowPriority = db.prepare(sql.nextWaitingBelowPriority);
    this.minWaitingRunAt = db.prepare<[], number | null>(sql.minWaitingRunAt).pluck();
    this.selectRecurringBySignature = db.prepare(sql.selectRecurringBySignature);
    this.selectRecurring = db.prepare(sql.selectRecurring);
    this.listRecurring = db.prepare(sql.listRecurring);
    this.nextRecurringAt = db.prepare<[], number | null>(sql.nextRecurringAt).pluck();
    this.dueRecurring = db.prepare(sql.dueRecurring);
    this.deleteAllRecurring = db.prepare(sql.deleteAllRecurring);
    this.deleteRecurring = db.prepare(sql.deleteRecurring);
    this.insertRecurring = db.prepare(sql.insertRecurring);
    this.updateRecurringKeepSchedule = db.prepare(sql.updateRecurringKeepSchedule);
    this.updateRecurringNewSchedule = db.prepare(sql.updateRecurringNewSchedule);
    this.advanceRecurring = db.prepare(sql.advanceRecurring);
    this.pauseRecurring = db.prepare(sql.pauseRecurring);
    this.resumeRecurring = db.prepare(sql.resumeRecurring);
    this.enqueueOccurrence = db.prepare(sql.enqueueOccurrence);
    this.dataVersion = db.prepare<[], number>(sql.dataVersion).pluck();
    this.databaseId = db.prepare<[], string>(sql.databaseId).pluck();
    this.#insertTarget = db.prepare<[string, string]>(sql.insertTarget);
    this.#selectTargetId = db.prepare<[string, string], number>(sql.selectTargetId).pluck();
    this.#selectTarget = db.prepare<[number], Target>(sql.selectTarget);
    this.#insertOwner = db.prepare<[string]>(sql.insertOwner);
    this.#selectOwnerId = db.prepare<[string], number>(sql.selectOwnerId).pluck();
    this.deleteOwner = db.prepare<[{ id: number }]>(sql.deleteOwner);
  }

  /**
   * The id of `service.method`, registering it on first use. A row inserted
   * inside a transaction goes if it rolls back, and its id with it: the
   * cache forgets what such a transaction taught it (see {@link settle}).
   */
  targetId(service: string, method: string): number {
    const methods = this.#targetIds.get(service) ?? new Map<string, number>();
    let id = methods.get(method);
    if (id !== undefined) return id;
    this.#insertTarget.run(service, method);
    id = this.#selectTargetId.get(service, method)!;
    if (methods.size === 0) this.#targetIds.set(service, methods);
    methods.set(method, id);
    this.#undoOnRollback(() => methods.delete(method));
    return id;
  }

  /**
   * After each outermost transaction (`Connection.transaction`): on a
   * rollback, takes out of the caches the targets and owners it put in them;
   * called with `keep` false before one too (nothing left from a transaction
   * it did not run).
   */
  settle(keep: boolean): void {
    if (this.#undo.length === 0) return;
    if (!keep) for (const forget of this.#undo) forget();
    this.#undo = [];
  }

  #undoOnRollback(forget: () => void): void {
    if (this.#db.inTransaction) this.#undo.push(forget);
  }

  /**
   * The id of lease owner `name` (migration 0008), registering it if it has
   * none: a claim's, inside the claim's transaction. Looked up, not taken
   * from the cache: another worker may have forgotten this owner since
   * ({@link abandon} deletes the row of an owner it thinks dead), and jobs
   * leased to an id without a row would belong to nobody. It gets a new id
   * then (never reused, see 0008), and the cache follows.
   */
  ownerId(name: string): number {
    let id = this.#selectOwnerId.get(name);
    if (id === undefined) {
      this.#insertOwner.run(name);
      id = this.#selectOwnerId.get(name)!;
    }
    const cached = this.#ownerIds.get(name);
    if (cached !== id) {
      this.#ownerIds.set(name, id);
      this.#undoOnRollback(() => {
        if (cached === undefined) this.#ownerIds.delete(name);
        else this.#ownerIds.set(name, cached);
      });
    }
    return id;
  }

  /**
   * The id of lease owner `name`, or null if it has none: it never claimed a
   * job in this file, or it is gone and its row with it. Either way it holds
   * no job, and null, bound where a statement fences by owner, matches none.
   * A cached id may outlive its row; ids are never reused, so it matches none too.
   */
  knownOwnerId(name: string): number | null {
    const cached = this.#ownerIds.get(name);
    if (cached !== undefined) return cached;
    const id = this.#selectOwnerId.get(name);
    if (id === undefined) return null;
    // Committed: a row this connection inserts is cached by ownerId at once, so it is never found here.
    this.#ownerIds.set(name, id);
    return id;
  }

  /** The target with `id`: the same strings for every job of it. */
  target(id: number): Target {
    let target = this.#targets.get(id);
    if (target === undefined) {
      target = this.#selectTarget.get(id);
      if (target === undefined) throw new Error(`no target with id ${id} in the jobs database`);
      this.#targets.set(id, target);
      this.#undoOnRollback(() => this.#targets.delete(id));
    }
    return target;
  }

  /**
   * The two statements that record `rows` successes, bound alike. Prepared
   * for the exact size on first use (at most {@link sql.MAX_COMPLETION_ROWS}
   * sizes, a few tens of microseconds each): padding a batch of 100 up to a
   * prepared 256 cost more in binding and stepping NULL rows than preparing.
   */
  successStatements(rows: number): SuccessStatements {
    let statements = this.#successes.get(rows);
    if (statements === undefined) {
      statements = {
        refused: this.#db.prepare<[unknown[]], number>(sql.refusedSuccessRows(rows)).pluck(),
        complete: this.#db.prepare<[unknown[]]>(sql.completeSucceededRows(rows)),
      };
      this.#successes.set(rows, statements);
    }
    return statements;
  }

  /**
   * A statement built at run time, prepared once per text on this file. The
   * texts come from a few dozen filter combinations; the cache is emptied if
   * it ever holds more, rather than grow without bound.
   */
  adHoc<P extends unknown[] | {} = unknown[], R = unknown>(text: string): Statement<P, R> {
    let statement = this.#adHoc.get(text);
    if (statement === undefined) {
      if (this.#adHoc.size >= 256) this.#adHoc.clear();
      statement = this.#db.prepare(text);
      this.#adHoc.set(text, statement);
    }
    return statement as Statement<P, R>;
  }
}

/** See {@link Statements.successStatements}. */
export interface SuccessStatements {
  /** The ids of the batch its owner no longer holds: {@link sql.refusedSuccessRows}. */
  readonly refused: Statement<[unknown[]], number>;
  readonly complete: Statement<[unknown[]]>;
}
