/**
 * The one narrow, async interface to job storage. The worker service, the
 * worker loop and the CLI use this and nothing else touches the database, so a
 * PostgreSQL store can be added without changing them.
 *
 * Times are UTC epoch milliseconds throughout. Params and results cross this
 * boundary as already-serialized text: the store never interprets them.
 */

/** What kind of change {@link JobStore.onChange} reports. */
export type StoreChange = 'work' | 'outcomes' | 'recurring' | 'any' | 'closed';

/**
 * Attempts a job gets when neither its adder nor its method said (see
 * {@link NewJob.maxAttempts}); what a store assumes for a job whose worker
 * died before it could apply its method's default.
 */
export const DEFAULT_MAX_ATTEMPTS = 3;

/** A job's life: waiting → running → succeeded | failed | cancelled (running → waiting again on retry or lost lease). */
export type JobState = 'waiting' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const JOB_STATES: readonly JobState[] = ['waiting', 'running', 'succeeded', 'failed', 'cancelled'];

/** An error recorded for a failed attempt. */
export interface JobErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/**
 * The run time of a job that waits for others (a parent) to end: never due.
 * The run time asked for is kept apart until the last parent ends.
 */
export const BLOCKED_RUN_AT = Number.MAX_SAFE_INTEGER;

/**
 * A job a new job runs after (see {@link NewJob.after}): one already added
 * (`database`, when given, is checked: a handle from a database deleted
 * since is refused), or an earlier entry of the same {@link JobStore.addJobs}
 * call, by its index.
 */
export type ParentRef = { readonly id: number; readonly database?: string } | { readonly entry: number };

/** The error a job ends with when a parent it waits for ends failed or cancelled. */
export function parentFailedError(parent: number, ended: 'failed' | 'cancelled'): JobErrorInfo {
  return { name: 'ParentFailedError', message: `job ${parent}, which this job runs after, ended ${ended}` };
}

/** How a parent of a running job ended, for `ctx.parents`. */
export interface ParentOutcome {
  readonly id: number;
  readonly service: string;
  readonly method: string;
  /** `pruned`: retention deleted it before its dependant ran. */
  readonly state: JobState | 'pruned';
  /** Serialized; set only if it succeeded. */
  readonly result: string | null;
  readonly error: JobErrorInfo | null;
}

/** A job to insert. */
export interface NewJob {
  readonly service: string;
  readonly method: string;
  /** Serialized params (see `serialization/payload.ts`). */
  readonly params: string;
  readonly runAt: number;
  /** Higher runs first. */
  readonly priority: number;
  /**
   * Attempts before the job ends failed; 0 when the caller gave none: the
   * worker that runs it applies its method's default (`outsideprocess({
   * maxAttempts })`), else {@link DEFAULT_MAX_ATTEMPTS}, and records it
   * ({@link JobStore.applyDefaults}).
   */
  readonly maxAttempts: number;
  /** Null when the caller gave none: the method's default timeout applies where it runs, else the worker's. */
  readonly timeoutMs: number | null;
  readonly createdAt: number;
  /** Unique key: while a job with the same service, method and key is waiting or running, no other is added. */
  readonly key?: string | null;
  readonly tags?: readonly string[] | null;
  /**
   * Jobs this one runs after: it becomes due (at `runAt` or when the last of
   * them ends, whichever is later) once all have succeeded. Each must exist;
   * a job can name only jobs added before it, so no cycle can be made. When
   * one ends failed or cancelled, this job ends cancelled at once, naming it
   * (and so do the jobs waiting for this one), unless `onParentFailure` is
   * `run`; a retry of that parent brings them back.
   */
  readonly after?: readonly ParentRef[];
  /** @default 'cancel' */
  readonly onParentFailure?: 'cancel' | 'run';
  /**
   * At most `limit` jobs with this `key` run at once, across every worker on
   * the database (JobCenter's locks: limit 1). Checked in the claim; a job
   * whose key is full waits (parked, out of every claim's way) and is let
   * through, oldest first, as the key's running jobs stop. Full: its running
   * jobs, and at an add also its due waiting jobs of the same service and
   * method that a claim would take first, fill the limit (so a pile-up is
   * parked by its adds, not by one long claim).
   */
  readonly concurrency?: ConcurrencyLimit | null;
  /**
   * While a job with this service, method and debounce key is waiting, this
   * add replaces its params and its run time (`runAt`, but never later than
   * the waiting job's `untilAt`) and returns its id instead of inserting.
   * `untilAt`: for a job this add inserts, the latest its run time may be moved to.
   */
  readonly debounce?: { readonly key: string; readonly untilAt: number | null } | null;
  /**
   * The name of a rate limit ({@link JobStore.setRateLimit}) its starts count
   * against: a job over it waits for the name's next free slot, using no
   * attempt. The name must be set.
   */
  readonly rateLimit?: string | null;
}

/** A named rate limit: at most `limit` starts in any `perMs` milliseconds. */
export interface RateLimit {
  readonly name: string;
  readonly limit: number;
  readonly perMs: number;
}

/** A rate limit and how much of it is used, as {@link JobStore.rateLimitUse} reports it. */
export interface RateLimitUse {
  readonly name: string;
  readonly limit: number;
  readonly perMs: number;
  /** Starts under it in the window ending now, `(now - perMs, now]`. */
  readonly recentStarts: number;
  /**
   * When the window is full, when the next start may happen: the oldest
   * start in the window plus `perMs` (with more starts than the limit, as
   * after the limit was lowered, the start that has to leave for one to be
   * under it). Null when there is room now.
   */
  readonly freeAt: number | null;
}

/** See {@link NewJob.concurrency}. */
export interface ConcurrencyLimit {
  readonly key: string;
  /** A positive integer. */
  readonly limit: number;
}

/** Finish times before which {@link JobStore.prune} deletes jobs; null keeps that kind forever. */
export interface PruneCutoffs {
  readonly succeededBefore: number | null;
  /** Applies to failed and cancelled jobs. */
  readonly failedBefore: number | null;
}

/** How much one {@link JobStore.prune} call may do. */
export interface PruneBudget {
  /** Most jobs deleted per transaction. */
  readonly batch: number;
  /** Most transactions that delete. */
  readonly batches: number;
  /** Most windows of the sweep moved through. */
  readonly windows: number;
}

/** A running job's latest progress report (Gearman WORK_STATUS). */
export interface Progress {
  readonly current: number;
  readonly total: number;
  readonly at: number;
}

/** A note or warning a running job left (Gearman WORK_DATA / WORK_WARNING). */
export interface JobNote {
  readonly id: number;
  readonly level: 'note' | 'warning';
  readonly message: string;
  readonly at: number;
}

/**
 * One attempt at one job in one database: what fences every write a worker
 * makes for a job it runs. The attempt number tells a worker's old attempt
 * from its new one after it lost and re-claimed the job; the database tells a
 * job from the job with the same id in a database that replaced a deleted one.
 */
export interface AttemptRef {
  readonly id: number;
  /** 1 for the first attempt, as {@link ClaimedJob.attempt}. */
  readonly attempt: number;
  /** {@link ClaimedJob.database}. */
  readonly database: string;
}

/** Progress and notes reported by running jobs, recorded in one transaction; fenced like completions. */
export interface ProgressUpdate extends AttemptRef {
  readonly owner: string;
  readonly progress: Progress | null;
  readonly notes: readonly Omit<JobNote, 'id'>[];
}

/** What a result watcher needs to know of a job, cheaply. */
export interface JobPulse {
  readonly id: number;
  readonly state: JobState;
  /** The latest progress report, if any. */
  readonly progress: Progress | null;
  /** Id of the job's newest note, 0 if none. */
  readonly lastNoteId: number;
}

/** How a finished job ended: what `handle.result()` needs, and no more. */
export interface JobOutcome {
  readonly id: number;
  readonly state: 'succeeded' | 'failed' | 'cancelled';
  /** Serialized result; null when the method returned `undefined` (or the job did not succeed). */
  readonly result: string | null;
  readonly error: JobErrorInfo | null;
}

/** A stored job, as the CLI and `getJob` see it. */
export interface JobRecord {
  readonly id: number;
  readonly service: string;
  readonly method: string;
  readonly params: string;
  readonly state: JobState;
  readonly priority: number;
  readonly runAt: number;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly timeoutMs: number | null;
  /** Serialized; null until the job succeeds, and after it for a method that returned undefined. */
  readonly result: string | null;
  readonly error: JobErrorInfo | null;
  /** The recurring job this occurrence came from, if any. */
  readonly recurringId: number | null;
  readonly fireTime: number | null;
  readonly leaseOwner: string | null;
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly key: string | null;
  readonly tags: readonly string[];
  readonly progress: Progress | null;
  /** The next attempt runs alone in its worker process: an earlier one blocked the process it ran in. */
  readonly isolated: boolean;
  /** The identity of the database the record was read from (see {@link AddedJobs.database}). */
  readonly database: string;
  /** The jobs it runs after ({@link NewJob.after}), in that order; empty for most jobs. */
  readonly after: readonly number[];
  /** Of those, how many it still waits for: a waiting job with any is not due whatever its `runAt`; 0 once it is not waiting. */
  readonly waitingFor: number;
  /** The parent whose failure or cancellation cancelled it, if that is how it ended. */
  readonly cancelledBy: number | null;
  /** Its concurrency key and limit ({@link NewJob.concurrency}). */
  readonly concurrency: ConcurrencyLimit | null;
  /** Waiting because its concurrency key is full ({@link NewJob.concurrency}): let through as a slot frees. */
  readonly parked: boolean;
  /** Waiting because its service or method is paused ({@link JobStore.pause}). */
  readonly held: boolean;
  /** The rate limit its starts count against ({@link NewJob.rateLimit}). */
  readonly rateLimit: string | null;
}

/** A concurrency key in use, as {@link JobStore.concurrencyKeys} reports it. */
export interface ConcurrencyKeyUse {
  readonly key: string;
  /** Its jobs running now: what counts against its limit. */
  readonly running: number;
  /** Its jobs waiting because it is full ({@link JobRecord.parked}). */
  readonly parked: number;
  /**
   * The limit of its next parked job to be let through (the limit is each
   * job's own, so jobs of one key may differ); null when none is parked.
   */
  readonly limit: number | null;
}

/** A paused service (`method` null: all its methods) or method. */
export interface PausedTarget {
  readonly service: string;
  readonly method: string | null;
  /** When it was paused (the pausing process's clock). */
  readonly at: number;
}

/** What the worker gets when it claims a job. */
export interface ClaimedJob {
  readonly id: number;
  readonly service: string;
  readonly method: string;
  readonly params: string;
  /** 1 for the first attempt; counted at claim time, so a job that kills its worker still uses up attempts. */
  readonly attempt: number;
  /** 0: none given when added; see {@link NewJob.maxAttempts}. */
  readonly maxAttempts: number;
  readonly timeoutMs: number | null;
  /** Runs alone: the worker claims nothing else while it runs (see {@link ClaimRequest.isolated}). */
  readonly isolated: boolean;
  /** The identity of the database it was claimed from: its outcome is recorded only there. */
  readonly database: string;
  /** How many jobs it ran after: the worker reads how they ended ({@link JobStore.parentOutcomes}) for `ctx.parents`. */
  readonly parents: number;
}

/** What {@link JobStore.claim} is asked for. */
export interface ClaimRequest {
  readonly owner: string;
  /** At most this many jobs. */
  readonly limit: number;
  /** The caller's clock; a store with a clock of its own (a database server's) goes by that instead. */
  readonly now: number;
  /**
   * Jobs marked isolated (an earlier attempt blocked its worker process)
   * run alone. `skip`: claim none of them, for a worker that runs other
   * jobs. `alone`: for a worker running nothing; claim in order, but stop at
   * the first isolated job: taken alone if it comes first, left otherwise.
   */
  readonly isolated: 'skip' | 'alone';
  /**
   * Methods' defaults (their `outsideprocess({ maxAttempts, timeout })`, as
   * the claiming worker resolves them), recorded in the claim's own write
   * for the jobs it leases that were added without them: `maxAttempts`
   * where a job has 0, `timeoutMs` where it has none (as {@link
   * JobStore.applyDefaults} does, without another round trip, and with no
   * moment in which the job is leased without them). The claimed jobs come
   * back with them. Methods not listed keep what they have; of several
   * entries for one method, the first applies.
   */
  readonly defaults?: readonly MethodDefaults[];
}

/** A map key for a method: not `service.method`, which two methods share when a service name has a dot (`a.b` + `c`, `a` + `b.c`). */
export function methodKey(service: string, method: string): string {
  return `${service}\0${method}`;
}

/** `defaults` by {@link methodKey}, the first entry for a method kept (see {@link ClaimRequest.defaults}). */
export function defaultsByMethod(defaults: readonly MethodDefaults[]): Map<string, MethodDefaults> {
  const map = new Map<string, MethodDefaults>();
  for (const d of defaults) {
    const key = methodKey(d.service, d.method);
    if (!map.has(key)) map.set(key, d);
  }
  return map;
}

/** A method's defaults for jobs added without attempts or a timeout (see {@link ClaimRequest.defaults}). */
export interface MethodDefaults {
  readonly service: string;
  readonly method: string;
  /** At least 1. */
  readonly maxAttempts: number;
  /** Null: the method has no timeout of its own. */
  readonly timeoutMs: number | null;
}

/** Where {@link JobStore.addJobs} put its jobs. */
export interface AddedJobs {
  /**
   * The identity of the database the jobs are in: random, made with the
   * database. A database that replaces a deleted one (the same file path, a
   * recreated schema) has another, so an id from before the delete is never
   * taken for the job that got the same id afterwards.
   */
  readonly database: string;
  /** In the order the jobs were given. */
  readonly ids: number[];
}

/** Where {@link JobStore.addJob} put its job. */
export interface AddedJob {
  /** See {@link AddedJobs.database}. */
  readonly database: string;
  readonly id: number;
}

/** What {@link JobStore.complete} refused to record. */
export interface Refusals {
  /** Ids whose attempt the worker no longer holds (taken back, or its lease handed to another attempt). */
  readonly refused: number[];
  /** Ids of jobs claimed from a database that has since been deleted or replaced: they are gone. */
  readonly gone: number[];
}

/** A worker holding running jobs, and how many times it has renewed its leases. */
export interface OwnerBeat {
  readonly owner: string;
  /** Grows by one with every {@link JobStore.heartbeat}: an owner whose beat stops growing has stopped. */
  readonly beat: number;
}

/** An attempt's error as kept in the job's history. */
export interface AttemptError extends JobErrorInfo {
  readonly attempt: number;
  readonly at: number;
}

/** A running job as its worker's supervisor sees it. */
export interface RunningJob extends AttemptRef {
  readonly maxAttempts: number;
  readonly startedAt: number;
  readonly timeoutMs: number | null;
}

/** What {@link JobStore.cancel} did. */
export type CancelOutcome = 'cancelled' | 'requested' | 'finished';

/**
 * The outcome of one attempt, recorded only if `owner` still holds that
 * attempt of the job in that database (fenced).
 */
export type Completion = AttemptRef & { readonly owner: string; readonly at: number } & (
  | { readonly outcome: 'cancelled'; readonly error: JobErrorInfo }
  /** `result` is serialized (see `serialization/payload.ts`), or null for a method that returned undefined. */
  | { readonly outcome: 'succeeded'; readonly result: string | null }
  | {
      readonly outcome: 'failed';
      readonly error: JobErrorInfo;
      /** When to try again, or null if this was the last attempt. */
      readonly retryAt: number | null;
      /** Its next attempt runs alone (see {@link ClaimRequest.isolated}): this one blocked its worker process. */
      readonly isolate?: boolean;
    }
);

/** A recurring job as given by `addAsRecurring`. Its signature is (service, method, name). */
export interface RecurringSpec {
  readonly service: string;
  readonly method: string;
  /** '' when the caller gave no name. */
  readonly name: string;
  readonly params: string;
  readonly everyMs: number | null;
  readonly cron: string | null;
  readonly tz: string | null;
  readonly misfire: string;
  readonly priority: number;
  /** 0 for none given: see {@link NewJob.maxAttempts}. */
  readonly maxAttempts: number;
  readonly timeoutMs: number | null;
  /** Interval schedules: the instant their n-th run is counted from. */
  readonly anchor: number;
  /**
   * The next fire time. When adding, it is used only if the schedule is new
   * or changed: an unchanged schedule keeps its stored next run.
   */
  readonly nextRunAt: number;
  readonly createdAt: number;
}

/** A stored recurring job: the spec as last added, with its id and current next run. */
export interface RecurringRecord extends RecurringSpec {
  readonly id: number;
  /** When it was paused ({@link JobStore.pauseRecurring}), or null: a paused one enqueues nothing. */
  readonly pausedAt: number | null;
}

/** Failed attempts of one method, as {@link JobStats.failuresLastHour} counts them. */
export interface MethodFailures {
  readonly service: string;
  readonly method: string;
  /** Failed or lost attempts (retried ones included) recorded in the hour before {@link JobStats.at}. */
  readonly failures: number;
}

/**
 * What {@link JobStore.stats} reports: how many jobs are where, how far
 * behind the workers are, and which methods fail. Plain data, for the
 * `jobs stats` command and for dashboards.
 */
export interface JobStats {
  /**
   * The instant the figures are for, in epoch ms: the caller's `now`, or the
   * database server's clock for a store that judges due jobs by it
   * (PostgreSQL), so "due" and "the last hour" mean what the workers see.
   */
  readonly at: number;
  /** Jobs in each state. `waiting` counts both {@link due} jobs and jobs scheduled for later. */
  readonly counts: Readonly<Record<JobState, number>>;
  /**
   * Of the `waiting` jobs, those whose run time has come: the backlog the
   * workers have yet to claim. `counts.waiting - due` are scheduled for later
   * (added with a run time, or waiting for a retry).
   */
  readonly due: number;
  /** How long the longest-due waiting job has been due (`at` minus its run time), in ms; null when none is due. */
  readonly oldestDueMs: number | null;
  /** Failed or lost attempts per `service.method` in the hour before `at`, from the attempts' recorded errors; most first. */
  readonly failuresLastHour: readonly MethodFailures[];
}

/**
 * A worker the store knows of, as {@link JobStore.workers} reports it: one
 * that has claimed a job in this database and has not stopped since (a
 * stopping worker retires; a dead one holding jobs is forgotten once they
 * are taken back).
 */
export interface WorkerInfo {
  /** Its lease owner name, `host:pid:random@scope` (see `worker/owner-identity.ts`). */
  readonly owner: string;
  /** The host and pid read from `owner`; null for a name of another form. */
  readonly host: string | null;
  readonly pid: number | null;
  /** Jobs it is running now. */
  readonly runningJobs: number;
  /** When it last renewed its leases, in epoch ms (the worker's clock; the server's on PostgreSQL); null before its first beat. */
  readonly lastHeartbeatAt: number | null;
  /**
   * How long ago that was, in ms: against the clock that recorded it (the
   * server's on PostgreSQL), else against the caller's `now`. A worker beats
   * every third of `worker.leaseSeconds`; one silent for longer than a lease
   * is likely gone (a crashed idle worker is never taken back, so it stays listed).
   */
  readonly heartbeatAgeMs: number | null;
}

/** Filters for {@link JobStore.listJobs}. */
export interface JobFilter {
  readonly state?: JobState;
  /** Only jobs carrying this tag. */
  readonly tag?: string;
  /** Newest first; at most this many. */
  readonly limit?: number;
}

/**
 * What {@link JobStore.searchJobs} and {@link JobStore.countJobs} look for:
 * every field given narrows the match (all must hold).
 */
export interface JobSearch {
  /** Any of these states. */
  readonly states?: readonly JobState[];
  readonly service?: string;
  readonly method?: string;
  /** Jobs carrying this tag. */
  readonly tag?: string;
  /** Jobs with this unique key. */
  readonly key?: string;
  /** Text found, ignoring case, in the serialized params or in the last error's name, message or stack. */
  readonly text?: string;
  /** Occurrences of this recurring job. */
  readonly recurringId?: number;
  /** Added at or after this instant. */
  readonly createdFrom?: number;
  /** Added before this instant. */
  readonly createdBefore?: number;
}

/** Which part of the newest-first list {@link JobStore.searchJobs} reads. */
export interface JobPageRequest {
  /** Only jobs with a smaller id (the previous page's `next`); absent for the first page. */
  readonly beforeId?: number;
  /** At most this many jobs. */
  readonly limit: number;
  /**
   * At most this many ids below `beforeId` are looked at: a search that
   * matches few jobs returns fewer than `limit` (even none) with a `next`
   * to go on from, instead of reading the whole table in one request.
   * Absent: no bound.
   */
  readonly scanIds?: number;
}

/** One page of {@link JobStore.searchJobs}, newest first. */
export interface JobPage {
  readonly jobs: JobRecord[];
  /** `beforeId` for the next page; null once no older job is left to look at. */
  readonly next: number | null;
}

/** What {@link JobStore.deleteJob} did. `newest`: see the method. */
export type DeleteOutcome = 'deleted' | 'active' | 'newest';

/** A finished job as {@link JobStore.activity} reports it: what throughput and duration figures need. */
export interface FinishedJobActivity {
  readonly id: number;
  readonly service: string;
  readonly method: string;
  readonly state: 'succeeded' | 'failed' | 'cancelled';
  readonly createdAt: number;
  readonly runAt: number;
  /** Null for a job cancelled before it started. */
  readonly startedAt: number | null;
  readonly finishedAt: number;
  readonly attempts: number;
}

/** Recent finished jobs (see {@link JobStore.activity}). */
export interface Activity {
  /** The largest job id handed out so far (0 in an empty database): its growth counts jobs added. */
  readonly newestJobId: number;
  readonly finished: FinishedJobActivity[];
}

/** Failed attempts recorded after a point (see {@link JobStore.attemptFailures}). */
export interface AttemptFailures {
  /** Pass as `afterId` next time. */
  readonly lastId: number;
  /** Oldest first; the method each failed attempt was of. */
  readonly failures: { readonly service: string; readonly method: string; readonly at: number }[];
}

/**
 * Storage for jobs and recurring jobs. Every method is atomic.
 *
 * Liveness without clocks: a worker renews its leases by beating
 * ({@link heartbeat}); another worker takes its jobs back only once it has
 * itself watched that worker's beat stand still for a lease's length of its
 * own monotonic time ({@link ownerBeats}, {@link abandon}). No lease is ever
 * judged by comparing two hosts' wall clocks, so a clock step cannot take a
 * live worker's jobs.
 */
export interface JobStore {
  /**
   * Inserts one job. With a `key`, if a job with the same service, method
   * and key is waiting or running, nothing is inserted and that job's id is
   * returned (decided by a unique index, so race-free). Resolves only once
   * the job is durable in the database now in use: an add that went into a
   * database deleted meanwhile is made again in the new one, or rejects.
   */
  addJob(job: NewJob): Promise<AddedJob>;

  /**
   * Inserts many jobs in one transaction (all or none); ids in the same
   * order. Keys behave as in {@link addJob}. `jobs` is iterated once, and may
   * build its rows as it goes: if it throws, nothing is inserted and the
   * error is the rejection. Durable as {@link addJob} is; an iterable that
   * cannot be iterated twice is refused rather than added again.
   */
  addJobs(jobs: Iterable<NewJob>): Promise<AddedJobs>;

  /**
   * Adds a recurring job, or replaces the one with the same signature. If the
   * schedule is unchanged the stored next run is kept, so registering the same
   * job at every start-up neither runs it early nor postpones it.
   */
  upsertRecurring(spec: RecurringSpec): Promise<RecurringRecord>;

  /**
   * Atomically leases up to `limit` due jobs (highest priority, then earliest
   * `runAt`, then oldest) to `owner`, counting an attempt on each. Jobs
   * claimed from a database deleted meanwhile are not handed out.
   */
  claim(request: ClaimRequest): Promise<ClaimedJob[]>;

  /**
   * Records outcomes in one transaction. An outcome is recorded only if its
   * `owner` holds that `attempt` of the job in that `database`; the rest are
   * refused (nothing changes for them).
   */
  complete(completions: readonly Completion[]): Promise<Refusals>;

  /** Records progress and notes of running jobs; updates for attempts their owner no longer holds are dropped. */
  recordProgress(updates: readonly ProgressUpdate[]): Promise<void>;

  /**
   * The state, progress and newest note of each job in `ids` that exists.
   * @throws DatabaseReplacedError if `database` is no longer the one in use.
   */
  pulse(database: string, ids: readonly number[]): Promise<JobPulse[]>;

  /**
   * The outcome of each job in `ids` that has finished (in one read, however many).
   * @throws DatabaseReplacedError if `database` is no longer the one in use.
   */
  outcomes(database: string, ids: readonly number[]): Promise<JobOutcome[]>;

  /**
   * A job's notes with an id above `afterId`, oldest first.
   * @throws DatabaseReplacedError if `database` is given and no longer the one in use.
   */
  getJobNotes(id: number, afterId?: number, database?: string): Promise<JobNote[]>;

  /**
   * {@link complete} then {@link claim} in one transaction: the worker's usual
   * step (record what finished, refill the freed slots) costs one commit, not two.
   */
  completeAndClaim(completions: readonly Completion[], request: ClaimRequest): Promise<Refusals & { claimed: ClaimedJob[] }>;

  /**
   * Renews every lease `owner` holds (its beat grows by one) and tells which
   * of the attempts it believes it runs it no longer holds: taken back by
   * another worker that thought it dead, or from a database deleted since.
   * The worker aborts those.
   * @param held the attempts the worker is running.
   * @returns the ones of `held` it no longer holds.
   */
  heartbeat(owner: string, held: readonly AttemptRef[], now: number): Promise<AttemptRef[]>;

  /**
   * Records the defaults the worker found for jobs added without them (their
   * method's `outsideprocess({ maxAttempts, timeout })`): `maxAttempts` where
   * the job has 0, `timeoutMs` where it has none; fenced like {@link
   * complete}. So every process (a supervisor timing the job, a worker
   * taking it back after a crash) goes by them.
   */
  applyDefaults(owner: string, defaults: readonly (AttemptRef & { readonly maxAttempts: number; readonly timeoutMs: number | null })[]): Promise<void>;

  /** Gives jobs back unstarted (shutdown); the interrupted attempt is not counted. Fenced like {@link complete}. */
  release(owner: string, attempts: readonly AttemptRef[], now: number): Promise<void>;

  /** The workers holding running jobs, with their beats (see the interface's note on liveness). */
  ownerBeats(): Promise<OwnerBeat[]>;

  /**
   * Takes back every job `owner` holds: its process is known to be dead, or
   * its beat stood still for a lease's length. Each goes back to waiting, or
   * ends failed if it has no attempts left, or cancelled if someone asked to
   * cancel it; the attempt stays counted and `error` is recorded as its error.
   * With `beat`, only if the owner's beat is still that (it did not just
   * come back to life). The owner is forgotten (see {@link retire}).
   * @param options.isolate whether the jobs' next attempts run alone (their process was blocked).
   * @returns how many jobs it took back.
   */
  abandon(owner: string, now: number, error: JobErrorInfo, options?: { readonly beat?: number; readonly isolate?: boolean }): Promise<number>;

  /**
   * `owner` has stopped and claims no more: the store may forget it. Called
   * last by a stopping worker, after it gave back what it still held; an
   * owner that still holds jobs is kept (they go back by {@link abandon}).
   */
  retire(owner: string): Promise<void>;

  /** The jobs `owner` is running. */
  runningJobs(owner: string): Promise<RunningJob[]>;

  /**
   * How the parents of each of `ids` ended, in the order of their `after`:
   * what a running dependant sees as `ctx.parents`.
   * @throws DatabaseReplacedError if `database` is not the one in use.
   */
  parentOutcomes(database: string, ids: readonly number[]): Promise<Map<number, ParentOutcome[]>>;

  /** The jobs that run after job `id` (its dependants), oldest first. */
  dependantsOf(id: number): Promise<number[]>;

  /**
   * Pauses a method (or, with `method` null, a whole service) for every
   * worker on the database: its jobs are not claimed until it is resumed;
   * running ones finish, adds still succeed. Pausing again changes nothing.
   * @returns false if it was paused already.
   */
  pause(service: string, method: string | null, now: number): Promise<boolean>;

  /**
   * Resumes what {@link pause} paused (exactly that target: a method paused
   * with its whole service stays paused until the service is resumed).
   * @returns false if it was not paused.
   */
  resume(service: string, method: string | null): Promise<boolean>;

  /** What is paused, by service and method. */
  listPaused(): Promise<PausedTarget[]>;

  /**
   * Sets (or changes) the rate limit `name`: at most `limit` jobs under it
   * start in any window of `perMs` milliseconds, on every worker.
   */
  setRateLimit(limit: RateLimit): Promise<void>;

  /** The rate limits set, by name. */
  listRateLimits(): Promise<RateLimit[]>;

  /**
   * Every rate limit set, by name, with its starts in the window ending
   * `now` and when it has room again if that window is full: what holds
   * rate-limited jobs back, for dashboards. Counts only the window of each
   * name's log of starts (older entries may still be kept), not the jobs.
   * @param now the caller's clock; a store that judges due jobs by its server's clock (PostgreSQL) uses that instead, as its claim does.
   */
  rateLimitUse(now: number): Promise<RateLimitUse[]>;

  /**
   * The concurrency keys with jobs running or parked, those with the most
   * parked first (then most running, then by key), at most `limit` of them:
   * what holds keyed jobs back, for dashboards. Reads the keys' running
   * counts and the parked jobs (by the index the release uses), not the
   * whole jobs table.
   */
  concurrencyKeys(limit: number): Promise<ConcurrencyKeyUse[]>;

  /** Ids of jobs `owner` runs that someone asked to cancel. */
  cancelRequests(owner: string): Promise<number[]>;

  /**
   * Cancels a job: a waiting one never starts (`cancelled`); a running one is
   * flagged for its worker, which aborts it (`requested`); a finished one is left (`finished`).
   * @throws JobNotFoundError
   */
  cancel(id: number, now: number): Promise<CancelOutcome>;

  /**
   * Puts a failed or cancelled job back to waiting with all its attempts.
   * The dependants its failure cancelled wait for it again (and theirs for them).
   * A job that runs after others waits again for those still waiting or running.
   * @returns false if the job is not failed or cancelled.
   * @throws JobNotFoundError
   * @throws InvalidArgumentError if it runs after a job that failed or was
   *   cancelled (and not whatever its parents do): retry that one instead.
   */
  retry(id: number, now: number): Promise<boolean>;

  /**
   * Goes on with a sweep over the jobs that deletes finished ones past their
   * retention: succeeded jobs that finished before `cutoffs.succeededBefore`,
   * failed and cancelled ones before `cutoffs.failedBefore` (null keeps
   * them), with their errors and notes. The newest job is never deleted, so
   * job ids are never handed out twice. The sweep reads the jobs a window
   * of ids at a time and deletes at most `budget.batch` per transaction (a
   * full batch looks at the same window again). A call reads up to
   * `budget.windows` windows and deletes up to `budget.batches` batches, and
   * stops early when it passes the newest job; the next call goes on where
   * it stopped, starting over after the newest job.
   * @returns how many jobs it deleted.
   */
  prune(cutoffs: PruneCutoffs, budget: PruneBudget): Promise<number>;

  /**
   * Counts of jobs by state, the due backlog and its oldest job's wait, and
   * failed attempts per method in the last hour, from one snapshot. Cheap
   * enough to poll: waiting and running jobs are counted on the indexes the
   * claim uses, errors of the last hour on an index by time; finished jobs,
   * which no index covers by state (it would cost every completion a write),
   * are counted by one scan of the rows retention keeps.
   * @param now the caller's clock; a store that judges due jobs by its server's clock uses that instead (see {@link JobStats.at}).
   */
  stats(now: number): Promise<JobStats>;

  /**
   * The workers the store knows of (see {@link WorkerInfo}), with what each
   * runs and when it last beat, ordered by owner name.
   * @param now the caller's clock, for {@link WorkerInfo.heartbeatAgeMs} where the store has no clock of its own.
   */
  workers(now: number): Promise<WorkerInfo[]>;

  /** The earliest next run of any recurring job not paused, or null if there is none. */
  nextRecurringAt(): Promise<number | null>;

  /** Recurring jobs not paused whose next run is at or before `now`. */
  dueRecurring(now: number): Promise<RecurringRecord[]>;

  /**
   * Pauses a recurring job: it enqueues nothing until resumed (occurrences
   * already enqueued stay), and adding it again keeps it paused. Pausing a
   * paused one keeps its first `pausedAt`.
   * @returns whether there is a recurring job with this id.
   */
  pauseRecurring(id: number, at: number): Promise<boolean>;

  /**
   * Resumes a paused recurring job, its next run moved to `nextRunAt` if that
   * is later (the caller's next fire time after now: every occurrence due
   * before it is skipped, those already overdue at the pause too). One not
   * paused is left as it is.
   * @returns whether there is a recurring job with this id.
   */
  resumeRecurring(id: number, nextRunAt: number): Promise<boolean>;

  /**
   * Enqueues occurrences of a recurring job and moves its next run, in one
   * transaction, only if its next run is still `expectedNextRunAt` (another
   * worker may have done it) and it is not paused. A unique key on (recurring job, fire time) makes
   * a second enqueue of the same occurrence impossible. Returns whether this call advanced it.
   */
  fireRecurring(id: number, expectedNextRunAt: number, fireTimes: readonly number[], nextRunAt: number, now: number): Promise<boolean>;

  /** The earliest run time of any waiting job (due or not), or null if none waits. */
  nextJobAt(): Promise<number | null>;

  getJob(id: number): Promise<JobRecord | undefined>;
  /** Every failed or lost attempt of a job, oldest first. */
  getJobErrors(id: number): Promise<AttemptError[]>;
  listJobs(filter?: JobFilter): Promise<JobRecord[]>;
  listRecurring(): Promise<RecurringRecord[]>;

  /**
   * Jobs matching `search`, newest (highest id) first, a page at a time by
   * keyset (`beforeId`), so the millionth job costs what the first does.
   * A job that changes state between pages may show on two or none.
   */
  searchJobs(search: JobSearch, page: JobPageRequest): Promise<JobPage>;

  /**
   * How many jobs match `search`, counting no further than `cap`: a result
   * equal to `cap` means "`cap` or more". Stops reading at the cap, so a
   * count of a big table costs what `cap` rows cost.
   */
  countJobs(search: JobSearch, cap: number): Promise<number>;

  /**
   * Makes a waiting job due now (a scheduled one, or one waiting for its
   * retry); one already due keeps its place. One held back by a full
   * concurrency key or a pause is made due too, and the claim checks its key
   * and the pause again; one that waits for other jobs stays waiting.
   * @returns false if the job is not waiting, or waits for other jobs.
   * @throws JobNotFoundError
   */
  runNow(id: number, now: number): Promise<boolean>;

  /**
   * Deletes a finished job with its errors and notes. A waiting or running
   * one is left (`active`: cancel it first). A store whose ids would be
   * handed out again if the newest job were deleted (SQLite) keeps the newest
   * job (`newest`), as {@link prune} does.
   * @throws JobNotFoundError
   */
  deleteJob(id: number): Promise<DeleteOutcome>;

  /**
   * Jobs that finished at or after `since`, among the newest `scanIds` job
   * ids: a bounded read however large the table (a job added long before
   * it finished may be missed), for throughput and duration figures.
   */
  activity(since: number, scanIds: number): Promise<Activity>;

  /**
   * Failed attempts recorded after `afterId`, at most `limit`. With
   * `afterId` null, none: only where the record stands now, to count from.
   */
  attemptFailures(afterId: number | null, limit: number): Promise<AttemptFailures>;
  /** Deletes every recurring job; jobs already enqueued and the history stay. Returns how many were removed. */
  clearRecurring(): Promise<number>;
  /** Deletes the recurring job with this signature. Returns whether there was one. */
  removeRecurring(service: string, method: string, name: string): Promise<boolean>;

  /**
   * Calls `listener` when the store may have changed: `work` when jobs may
   * have become due or been cancelled, `outcomes` when jobs finished or
   * reported progress, `recurring` when a recurring job was added or its
   * schedule changed, `any` for a change of unknown kind (another process's
   * commit where the store cannot tell which kind it was, a replaced
   * database, a reconnect or backstop tick after which anything may have
   * changed), and `closed` once when the store is closed (listeners let go
   * of it: nothing waiting on it may keep the process alive). A store reports
   * its own writes by kind, and another process's by kind where it can tell
   * (PostgreSQL: the NOTIFY names them). Cheap and coalesced; listeners
   * re-read what they need. Returns an unsubscribe function.
   */
  onChange(listener: (change: StoreChange) => void): () => void;

  close(): Promise<void>;
}
