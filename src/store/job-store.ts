/**
 * The one narrow, async interface to job storage. The worker service, the
 * worker loop and the CLI use this and nothing else touches the database, so a
 * PostgreSQL store can be added without changing them.
 *
 * Times are UTC epoch milliseconds throughout. Params and results cross this
 * boundary as already-serialized text: the store never interprets them.
 */

/** What kind of change {@link JobStore.onChange} reports. */
export type StoreChange = 'work' | 'outcomes' | 'any';

/** A job's life: waiting → running → succeeded | failed | cancelled (running → waiting again on retry or lost lease). */
export type JobState = 'waiting' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const JOB_STATES: readonly JobState[] = ['waiting', 'running', 'succeeded', 'failed', 'cancelled'];

/** An error recorded for a failed attempt. */
export interface JobErrorInfo {
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
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
  readonly maxAttempts: number;
  readonly timeoutMs: number | null;
  readonly createdAt: number;
  /** Unique key: while a job with the same service, method and key is waiting or running, no other is added. */
  readonly key?: string | null;
  readonly tags?: readonly string[] | null;
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

/** Progress and notes reported by running jobs, recorded in one transaction; fenced like completions. */
export interface ProgressUpdate {
  readonly id: number;
  readonly owner: string;
  readonly progress: Progress | null;
  readonly notes: readonly Omit<JobNote, 'id'>[];
}

/** What a result watcher needs to know of a job, cheaply. */
export interface JobPulse {
  readonly id: number;
  readonly state: JobState;
  readonly progressAt: number | null;
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
  readonly leaseUntil: number | null;
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly key: string | null;
  readonly tags: readonly string[];
  readonly progress: Progress | null;
}

/** What the worker gets when it claims a job. */
export interface ClaimedJob {
  readonly id: number;
  readonly service: string;
  readonly method: string;
  readonly params: string;
  /** 1 for the first attempt; counted at claim time, so a job that kills its worker still uses up attempts. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly timeoutMs: number | null;
}

/** An attempt's error as kept in the job's history. */
export interface AttemptError extends JobErrorInfo {
  readonly attempt: number;
  readonly at: number;
}

/** A running job as its worker's supervisor sees it. */
export interface RunningJob {
  readonly id: number;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly startedAt: number;
  readonly timeoutMs: number | null;
}

/** What {@link JobStore.cancel} did. */
export type CancelOutcome = 'cancelled' | 'requested' | 'finished';

/** The outcome of one attempt, accepted only from the lease owner (fenced). */
export type Completion =
  | { readonly id: number; readonly owner: string; readonly outcome: 'cancelled'; readonly error: JobErrorInfo; readonly at: number }
  /** `result` is serialized (see `serialization/payload.ts`), or null for a method that returned undefined. */
  | { readonly id: number; readonly owner: string; readonly outcome: 'succeeded'; readonly result: string | null; readonly at: number }
  | {
      readonly id: number;
      readonly owner: string;
      readonly outcome: 'failed';
      readonly error: JobErrorInfo;
      readonly at: number;
      /** When to try again, or null if this was the last attempt. */
      readonly retryAt: number | null;
    };

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
}

/** Filters for {@link JobStore.listJobs}. */
export interface JobFilter {
  readonly state?: JobState;
  /** Only jobs carrying this tag. */
  readonly tag?: string;
  /** Newest first; at most this many. */
  readonly limit?: number;
}

/** Storage for jobs and recurring jobs. Every method is atomic. */
export interface JobStore {
  /**
   * Inserts one job and returns its id. With a `key`, if a job with the same
   * service, method and key is waiting or running, nothing is inserted and
   * that job's id is returned (decided by a unique index, so race-free).
   */
  addJob(job: NewJob): Promise<number>;

  /**
   * Inserts many jobs in one transaction (all or none); ids in the same
   * order. Keys behave as in {@link addJob}. `jobs` is iterated once, and may
   * build its rows as it goes: if it throws, nothing is inserted and the
   * error is the rejection.
   */
  addJobs(jobs: Iterable<NewJob>): Promise<number[]>;

  /**
   * Adds a recurring job, or replaces the one with the same signature. If the
   * schedule is unchanged the stored next run is kept, so registering the same
   * job at every start-up neither runs it early nor postpones it.
   */
  upsertRecurring(spec: RecurringSpec): Promise<RecurringRecord>;

  /**
   * Atomically leases up to `limit` due jobs (highest priority, then earliest
   * `runAt`, then oldest) to `owner` until `leaseUntil`, counting an attempt on each.
   */
  claim(request: { readonly owner: string; readonly limit: number; readonly now: number; readonly leaseUntil: number }): Promise<ClaimedJob[]>;

  /** Records outcomes in one transaction. Returns the ids whose completion was refused because `owner` no longer holds the lease. */
  complete(completions: readonly Completion[]): Promise<number[]>;

  /** Records progress and notes of running jobs; updates for jobs `owner` no longer holds are dropped. */
  recordProgress(updates: readonly ProgressUpdate[]): Promise<void>;

  /** The state, progress time and newest note of each job in `ids` that exists. */
  pulse(ids: readonly number[]): Promise<JobPulse[]>;

  /** The outcome of each job in `ids` that has finished (in one read, however many). */
  outcomes(ids: readonly number[]): Promise<JobOutcome[]>;

  /** A job's notes with an id above `afterId`, oldest first. */
  getJobNotes(id: number, afterId?: number): Promise<JobNote[]>;

  /**
   * {@link complete} then {@link claim} in one transaction: the worker's usual
   * step (record what finished, refill the freed slots) costs one commit, not two.
   */
  completeAndClaim(
    completions: readonly Completion[],
    request: { readonly owner: string; readonly limit: number; readonly now: number; readonly leaseUntil: number },
  ): Promise<{ refused: number[]; claimed: ClaimedJob[] }>;

  /** Extends every lease `owner` holds. */
  heartbeat(owner: string, leaseUntil: number): Promise<void>;

  /** Gives jobs back unstarted (shutdown after the grace period); the interrupted attempt is not counted. */
  release(owner: string, ids: readonly number[], now: number): Promise<void>;

  /** Returns jobs whose lease expired to `waiting`, or fails them if they have no attempts left. Returns how many. */
  recoverExpiredLeases(now: number): Promise<number>;

  /**
   * The same for every job `owner` holds, at once: its process is known to be
   * dead. The attempt stays counted; `error` is recorded as that attempt's error.
   */
  abandon(owner: string, now: number, error: JobErrorInfo): Promise<number>;

  /**
   * `owner` has stopped and claims no more: the store may forget it. Called
   * last by a stopping worker, after it gave back what it still held; an
   * owner that still holds jobs is kept (they go back by {@link abandon} or
   * lease expiry). {@link abandon} forgets its owner too.
   */
  retire(owner: string): Promise<void>;

  /** Lease owners of running jobs. */
  runningOwners(): Promise<string[]>;

  /** The jobs `owner` is running. */
  runningJobs(owner: string): Promise<RunningJob[]>;

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
   * @returns false if the job is not failed or cancelled.
   * @throws JobNotFoundError
   */
  retry(id: number, now: number): Promise<boolean>;

  /**
   * Goes on with a sweep over the jobs that deletes finished ones past their
   * retention: succeeded jobs that finished before `cutoffs.succeededBefore`,
   * failed and cancelled ones before `cutoffs.failedBefore` (null keeps
   * them), with their errors and notes. The sweep reads the jobs a window
   * of ids at a time and deletes at most `budget.batch` per transaction (a
   * full batch looks at the same window again). A call reads up to
   * `budget.windows` windows and deletes up to `budget.batches` batches, and
   * stops early when it passes the newest job; the next call goes on where
   * it stopped, starting over after the newest job.
   * @returns how many jobs it deleted.
   */
  prune(cutoffs: PruneCutoffs, budget: PruneBudget): Promise<number>;

  /** The earliest next run of any recurring job, or null if there is none. */
  nextRecurringAt(): Promise<number | null>;

  /** Recurring jobs whose next run is at or before `now`. */
  dueRecurring(now: number): Promise<RecurringRecord[]>;

  /**
   * Enqueues occurrences of a recurring job and moves its next run, in one
   * transaction, only if its next run is still `expectedNextRunAt` (another
   * worker may have done it). A unique key on (recurring job, fire time) makes
   * a second enqueue of the same occurrence impossible. Returns whether this call advanced it.
   */
  fireRecurring(id: number, expectedNextRunAt: number, fireTimes: readonly number[], nextRunAt: number, now: number): Promise<boolean>;

  /** The earliest instant at which something (a waiting job or a recurring job) falls due, or null. */
  nextWakeAt(): Promise<number | null>;

  getJob(id: number): Promise<JobRecord | undefined>;
  /** Every failed or lost attempt of a job, oldest first. */
  getJobErrors(id: number): Promise<AttemptError[]>;
  listJobs(filter?: JobFilter): Promise<JobRecord[]>;
  listRecurring(): Promise<RecurringRecord[]>;
  /** Deletes every recurring job; jobs already enqueued and the history stay. Returns how many were removed. */
  clearRecurring(): Promise<number>;
  /** Deletes the recurring job with this signature. Returns whether there was one. */
  removeRecurring(service: string, method: string, name: string): Promise<boolean>;

  /**
   * Calls `listener` when the store may have changed: `work` when jobs may
   * have become due or been cancelled here, `outcomes` when jobs finished or
   * reported progress here, `any` for another process's commit (or a
   * reopened file). Cheap and coalesced; listeners re-read what they need.
   * Returns an unsubscribe function.
   */
  onChange(listener: (change: StoreChange) => void): () => void;

  close(): Promise<void>;
}
