import { DEFAULT_MAX_ATTEMPTS, type JobState } from '../job-store.ts';

/*
 * Every SQL statement the SQLite store runs, named after what it does, so a
 * reader finds the claim query by its name. Columns are aliased to the
 * record's field names, so rows need no mapping beyond the JSON error.
 */

/**
 * How a job's state is stored (migration 0005): a small integer. Written into
 * the SQL as literals, never bound, so the planner matches the partial
 * indexes (`WHERE state = 0`).
 */
export const STATE = { waiting: 0, running: 1, succeeded: 2, failed: 3, cancelled: 4 } as const;
/** The state names by stored number. */
export const STATE_NAMES: readonly JobState[] = ['waiting', 'running', 'succeeded', 'failed', 'cancelled'];
const { waiting: WAITING, running: RUNNING, succeeded: SUCCEEDED, failed: FAILED, cancelled: CANCELLED } = STATE;

/** A job's attempts: 0 stands for none given (JobStore NewJob.maxAttempts), until its worker applies its method's default. */
const MAX_ATTEMPTS = `(CASE max_attempts WHEN 0 THEN ${DEFAULT_MAX_ATTEMPTS} ELSE max_attempts END)`;

/** The stored state as its name, for the rows the store returns. */
const STATE_NAME = `CASE state WHEN ${WAITING} THEN 'waiting' WHEN ${RUNNING} THEN 'running' WHEN ${SUCCEEDED} THEN 'succeeded'
  WHEN ${FAILED} THEN 'failed' ELSE 'cancelled' END`;

/*
 * The columns of workflows and limits are in job_flow (migration 0017), which
 * only jobs that use them have a row in: the job queries read it through
 * {@link JOBS_WITH_TARGETS}'s LEFT JOIN, and a plain job's are null there.
 */

/** Of a job that waits for parents, for its key (parked) or for a pause (held), the run time asked for (run_at is held at BLOCKED_RUN_AT meanwhile). */
const RUN_AT = 'CASE WHEN job_flow.parents > 0 OR job_flow.parked = 1 OR job_flow.held = 1 THEN job_flow.ready_at ELSE jobs.run_at END';

/** A job's parents in `after` order, as a JSON array; read only for jobs that have any. */
const AFTER = `CASE WHEN job_flow.parents > 0 THEN (SELECT json_group_array(parent_id) FROM (SELECT parent_id FROM job_parents WHERE job_id = jobs.id ORDER BY position)) END`;

export const JOB_COLUMNS = `jobs.id AS id, targets.service AS service, targets.method AS method, params, ${STATE_NAME} AS state, jobs.priority AS priority, ${RUN_AT} AS runAt, attempts,
  max_attempts AS maxAttempts, timeout_ms AS timeoutMs, result, error, recurring_id AS recurringId,
  fire_time AS fireTime, (SELECT name FROM owners WHERE owners.id = jobs.lease_owner) AS leaseOwner, created_at AS createdAt,
  started_at AS startedAt, finished_at AS finishedAt, key, tags, progress_current AS progressCurrent,
  progress_total AS progressTotal, progress_at AS progressAt, isolated, ${AFTER} AS afterIds, CASE WHEN jobs.state = ${WAITING} THEN coalesce(job_flow.waiting_for, 0) ELSE 0 END AS waitingFor,
  job_flow.cancelled_by AS cancelledBy, job_flow.concurrency_key AS concurrencyKey, job_flow.concurrency_limit AS concurrencyLimit,
  coalesce(job_flow.parked, 0) AS parked, coalesce(job_flow.held, 0) AS held, job_flow.rate_limit AS rateLimit`;

const RECURRING_COLUMNS = `id, service, method, name, params, every_ms AS everyMs, cron, tz, misfire, priority,
  max_attempts AS maxAttempts, timeout_ms AS timeoutMs, anchor, next_run_at AS nextRunAt, created_at AS createdAt, paused_at AS pausedAt`;

/** The columns every job insert binds, by position (cheaper than by name on the add path): see {@link InsertValues}. */
const INSERT_COLUMNS = 'target_id, params, priority, run_at, max_attempts, timeout_ms, created_at, tags';
const INSERT_ROW = '(?, ?, ?, ?, ?, ?, ?, ?)';

export const insertJob = `INSERT INTO jobs (${INSERT_COLUMNS}) VALUES ${INSERT_ROW}`;

/** As {@link insertJob}, for a job that gets a job_flow row (migration 0017) in the same transaction. */
export const insertFlowJob = `INSERT INTO jobs (${INSERT_COLUMNS}, flow) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)`;

/** Rows per statement of a bulk insert: one statement call binds this many jobs. */
export const BULK_INSERT_ROWS = 100;

/**
 * BULK_INSERT_ROWS jobs in one statement, bound as {@link insertJob} binds
 * one. Multi-row VALUES measured faster than parsing a JSON batch with
 * json_each, and than one statement call per job.
 */
export const insertJobRows = `
  INSERT INTO jobs (${INSERT_COLUMNS})
  VALUES ${Array.from({ length: BULK_INSERT_ROWS }, () => INSERT_ROW).join(', ')}`;

/**
 * The usual bulk: BULK_INSERT_ROWS jobs that differ only in params and run
 * time (same target, priority, attempts, timeout, creation time and tags).
 * The shared values are bound once, by name, and each row binds two values
 * instead of eight: measured 10–15% faster than {@link insertJobRows}. A
 * VALUES list read as a table yields its rows in order, so the ids follow
 * the order of the rows here too.
 */
export const insertSharedJobRows = `
  INSERT INTO jobs (${INSERT_COLUMNS})
  SELECT @targetId, column1, @priority, column2, @maxAttempts, @timeoutMs, @createdAt, @tags
  FROM (VALUES ${Array.from({ length: BULK_INSERT_ROWS }, () => '(?, ?)').join(', ')})`;

/** The columns of {@link insertJob}, then the key. OR IGNORE: jobs_active_key turns a second active job with the same key into a no-op. */
export const insertKeyedJob = `INSERT OR IGNORE INTO jobs (${INSERT_COLUMNS}, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`;
/** As {@link insertKeyedJob}, for a job that gets a job_flow row. */
export const insertKeyedFlowJob = `INSERT OR IGNORE INTO jobs (${INSERT_COLUMNS}, key, flow) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`;

export const selectActiveByKey = `
  SELECT id FROM jobs WHERE target_id = ? AND key = ? AND state IN (${WAITING}, ${RUNNING})`;

/**
 * Every write a worker makes for a job it runs is fenced by this: the job is
 * running, leased to this owner, at this attempt. A worker whose job was
 * taken back, or whose own earlier attempt lost its lease and was claimed
 * again, changes nothing.
 */
const HELD = `id = @id AND lease_owner = @owner AND attempts = @attempt AND state = ${RUNNING}`;

/** Fenced: progress of an attempt this worker no longer holds is dropped. */
export const recordProgress = `
  UPDATE jobs SET progress_current = @current, progress_total = @total, progress_at = @at
   WHERE ${HELD}`;

export const insertNote = `
  INSERT INTO job_notes (job_id, level, message, at)
  SELECT id, @level, @message, @at FROM jobs WHERE ${HELD}`;

export const selectNotes = `SELECT id, level, message, at FROM job_notes WHERE job_id = ? AND id > ? ORDER BY id`;

/** One query for every job a process awaits: its state, and whether it reported anything new. */
export const pulse = `
  SELECT id, ${STATE_NAME} AS state, progress_current AS progressCurrent, progress_total AS progressTotal, progress_at AS progressAt,
         COALESCE((SELECT max(n.id) FROM job_notes n WHERE n.job_id = jobs.id), 0) AS lastNoteId
    FROM jobs WHERE id IN (SELECT value FROM json_each(?))`;

/** Of the jobs bound as a JSON array, the finished ones and how they ended (error as JSON text). */
export const selectOutcomes = `
  SELECT id, ${STATE_NAME} AS state, result, error
    FROM jobs WHERE id IN (SELECT value FROM json_each(?)) AND state >= ${SUCCEEDED}`;

/**
 * The waiting jobs a claim takes, in claim order: walks jobs_claim and stops
 * at the limit. Read as arrays (raw), in the order of {@link ClaimedRow}:
 * better-sqlite3 builds an object per row property by property, which cost
 * more than the SQL. `attempts + 1`: the attempt {@link markClaimed} counts.
 * This one is for a worker that runs other jobs: it never takes an isolated
 * job (migration 0009), which must run alone. Of workflows and limits it
 * reads the flag only (migration 0017): the claim looks job_flow up for the
 * flagged rows alone.
 */
export const selectClaimable = `
  SELECT id, target_id, params, attempts + 1, max_attempts, timeout_ms, isolated, flow FROM jobs
   WHERE state = ${WAITING} AND run_at <= @now AND isolated = 0
   ORDER BY priority DESC, run_at, id
   LIMIT @limit`;

/** As {@link selectClaimable}, isolated jobs included: for a worker running nothing, which stops at the first one. */
export const selectClaimableAny = selectClaimable.replace(' AND isolated = 0', '');

/**
 * Leases the jobs {@link selectClaimable} just read: the same sub-select,
 * in the same BEGIN IMMEDIATE transaction (SQLite has no SKIP LOCKED; the
 * write lock is what keeps two workers from taking the same job), so the same
 * rows. Not UPDATE … RETURNING: SQLite runs RETURNING as a trigger that
 * loads every column of the old row and buffers the result, which made the
 * claim a third slower (bench/store-variants.ts).
 */
export const markClaimed = `
  UPDATE jobs
     SET state = ${RUNNING}, lease_owner = @owner, attempts = attempts + 1, started_at = @now
   WHERE id IN (SELECT id FROM jobs
                 WHERE state = ${WAITING} AND run_at <= @now AND isolated = 0
                 ORDER BY priority DESC, run_at, id
                 LIMIT @limit)`;

/** As {@link markClaimed}, for the rows of {@link selectClaimableAny}. */
export const markClaimedAny = markClaimed.replace(' AND isolated = 0', '');

/** The rows of a batch of `rows` successes bound as (id, attempt, result, finishedAt) quadruples. */
const SUCCESS_ROWS = (rows: number): string => `r(id, attempt, result, at) AS (VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?)').join(', ')})`;

/**
 * Of a batch bound as {@link completeSucceededRows} binds it, the ids whose
 * attempt its owner no longer holds (gone, finished, leased to another worker,
 * or claimed again since). Read before the update, in its transaction; almost always none.
 */
export function refusedSuccessRows(rows: number): string {
  return `
  WITH ${SUCCESS_ROWS(rows)}
  SELECT r.id FROM r LEFT JOIN jobs ON jobs.id = r.id
   WHERE (jobs.id IS NULL OR jobs.state <> ${RUNNING} OR jobs.attempts <> r.attempt OR jobs.lease_owner IS NOT ?)`;
}

/**
 * Fenced, for a batch of `rows` successes bound as (id, attempt, result,
 * finishedAt) quadruples, then the owner. One statement instead of one per
 * job; which ones were refused, {@link refusedSuccessRows} tells (no
 * RETURNING, see {@link markClaimed}). Prepared per batch size on first use.
 * The unary + keeps the planner from walking the owner's running jobs and
 * scanning the batch for each: it looks each batch entry up by id instead.
 */
export function completeSucceededRows(rows: number): string {
  return `
  WITH ${SUCCESS_ROWS(rows)}
  UPDATE jobs
     SET state = ${SUCCEEDED}, result = r.result, finished_at = r.at, lease_owner = NULL
    FROM r
   WHERE jobs.id = r.id AND jobs.attempts = r.attempt AND +jobs.lease_owner = ? AND jobs.state = ${RUNNING}`;
}

/** The most successes one {@link completeSucceededRows} statement takes; a larger batch is split. */
export const MAX_COMPLETION_ROWS = 256;

/** For EXPLAIN in tests: the statements for a batch of 4. */
export const completeSucceededMany = completeSucceededRows(4);
export const refusedSuccessMany = refusedSuccessRows(4);

/**
 * Fenced. A failed attempt with attempts left goes back to waiting at
 * @retryAt, unless someone asked to cancel the job meanwhile. @isolate (0 or
 * 1) marks it to run alone from now on: this attempt blocked its process.
 */
export const completeFailed = `
  UPDATE jobs
     SET state = CASE WHEN cancel_requested = 1 THEN ${CANCELLED} WHEN @retryAt IS NULL THEN ${FAILED} ELSE ${WAITING} END,
         run_at = COALESCE(@retryAt, run_at),
         error = @error,
         finished_at = CASE WHEN cancel_requested = 1 OR @retryAt IS NULL THEN @at ELSE NULL END,
         lease_owner = NULL, isolated = max(isolated, @isolate)
   WHERE ${HELD}`;

/** Kept for `jobs show`: every failed attempt, not only the last. Runs before the fenced update. */
export const recordAttemptError = `
  INSERT INTO job_errors (job_id, attempt, name, message, stack, at)
  SELECT id, attempts, @name, @message, @stack, @at FROM jobs
   WHERE ${HELD}`;

/** Fenced: a running job its worker aborted on request. */
export const completeCancelled = `
  UPDATE jobs
     SET state = ${CANCELLED}, error = @error, finished_at = @at, lease_owner = NULL
   WHERE ${HELD}`;

/**
 * Fenced: the defaults a worker found for a job added without them (see
 * JobStore.applyDefaults); an attempt count or a timeout the job has stays.
 */
export const applyDefaults = `
  UPDATE jobs
     SET max_attempts = CASE WHEN max_attempts = 0 THEN @maxAttempts ELSE max_attempts END,
         timeout_ms = COALESCE(timeout_ms, @timeoutMs)
   WHERE ${HELD}`;

/** A worker's heartbeat: one row, however many jobs it runs (see {@link heldBy} for what it still holds). */
export const beat = `UPDATE owners SET beat = beat + 1, beat_at = @now WHERE id = @owner`;

/** The attempts `owner` holds: a heartbeat compares them with the ones its worker runs. */
export const heldBy = `SELECT id, attempts FROM jobs WHERE state = ${RUNNING} AND lease_owner = ?`;

/** The interrupted attempt was the worker's doing, not the job's: it is not counted. */
export const releaseJob = `
  UPDATE jobs
     SET state = CASE WHEN cancel_requested = 1 THEN ${CANCELLED} ELSE ${WAITING} END,
         finished_at = CASE WHEN cancel_requested = 1 THEN @now ELSE NULL END,
         lease_owner = NULL, started_at = NULL, attempts = attempts - 1
   WHERE ${HELD}`;

/*
 * Attempts lost with their worker (it died, or its beat stood still): the
 * attempt was counted at claim, so a job that kills its worker every time
 * runs out of attempts and ends failed instead of crash-looping. @isolate
 * (0 or 1): the worker process was blocked, and these jobs run alone from now on.
 */
export const abandonOwner = `
  UPDATE jobs
     SET state = CASE WHEN cancel_requested = 1 THEN ${CANCELLED} WHEN attempts >= ${MAX_ATTEMPTS} THEN ${FAILED} ELSE ${WAITING} END,
         error = json_object('name', @name, 'message', @message),
         finished_at = CASE WHEN cancel_requested = 1 OR attempts >= ${MAX_ATTEMPTS} THEN @now ELSE NULL END,
         lease_owner = NULL, isolated = max(isolated, @isolate)
   WHERE state = ${RUNNING} AND lease_owner = @owner`;
export const recordAbandonedErrors = `
  INSERT INTO job_errors (job_id, attempt, name, message, stack, at)
  SELECT id, attempts, @name, @message, NULL, @now FROM jobs WHERE state = ${RUNNING} AND lease_owner = @owner`;

/** The owners of running jobs and their beats: what every worker watches to find the dead ones. */
export const ownerBeats = `SELECT name AS owner, beat FROM owners WHERE id IN (SELECT lease_owner FROM jobs WHERE state = ${RUNNING})`;
export const ownerBeat = `SELECT beat FROM owners WHERE id = ?`;
/**
 * `jobs stats`, waiting and running jobs: covering scans of the partial
 * indexes the claim and the heartbeats use (jobs_claim holds run_at), never
 * of the table. @now decides what is due.
 */
export const statsActive = `
  SELECT (SELECT count(*) FROM jobs WHERE state = ${WAITING}) AS waiting,
         (SELECT count(*) FROM jobs WHERE state = ${WAITING} AND run_at <= @now) AS due,
         (SELECT min(run_at) FROM jobs WHERE state = ${WAITING}) AS earliestRunAt,
         (SELECT count(*) FROM jobs WHERE state = ${RUNNING}) AS running`;

/**
 * `jobs stats`, finished jobs: a scan of the table. No index has their state
 * (0006 dropped the one there was: it cost every completion page writes), and
 * retention bounds how many rows there are.
 */
export const statsFinished = `SELECT state, count(*) AS count FROM jobs WHERE state >= ${SUCCEEDED} GROUP BY state`;

/** Failed and lost attempts since @since per method, from job_errors_at (migration 0010); most first. */
export const failuresSince = `
  SELECT targets.service AS service, targets.method AS method, count(*) AS failures
    FROM job_errors JOIN jobs ON jobs.id = job_errors.job_id JOIN targets ON targets.id = jobs.target_id
   WHERE job_errors.at > @since
   GROUP BY jobs.target_id
   ORDER BY failures DESC, service, method`;

/** Every lease owner not yet retired or forgotten, with how many jobs it runs (through jobs_running_owner). */
export const workers = `
  SELECT name AS owner, beat_at AS beatAt,
         (SELECT count(*) FROM jobs WHERE state = ${RUNNING} AND lease_owner = owners.id) AS runningJobs
    FROM owners ORDER BY name`;

export const runningJobsOf = `
  SELECT id, attempts AS attempt, max_attempts AS maxAttempts, started_at AS startedAt, timeout_ms AS timeoutMs
    FROM jobs WHERE state = ${RUNNING} AND lease_owner = ?`;
export const cancelRequestsOf = `SELECT id FROM jobs WHERE state = ${RUNNING} AND lease_owner = ? AND cancel_requested = 1`;

export const cancelWaiting = `UPDATE jobs SET state = ${CANCELLED}, finished_at = @now WHERE id = @id AND state = ${WAITING}`;
export const requestCancel = `UPDATE jobs SET cancel_requested = 1 WHERE id = @id AND state = ${RUNNING}`;

/**
 * A failed or cancelled job starts over with all its attempts; its error
 * history stays. Not parked or held any more either: see
 * {@link retryReleasesFlow}, run with it.
 */
export const retryJob = `
  UPDATE jobs
     SET state = ${WAITING}, run_at = @now, attempts = 0, cancel_requested = 0, result = NULL, error = NULL,
         started_at = NULL, finished_at = NULL
   WHERE id = @id AND state IN (${FAILED}, ${CANCELLED})`;
/** Of a job {@link retryJob} retried: run_at is its own again, so it is neither parked nor held. */
export const retryReleasesFlow = `UPDATE job_flow SET parked = 0, held = 0 WHERE job_id = ? AND (parked = 1 OR held = 1)`;

export const selectJobErrors = `SELECT attempt, name, message, stack, at FROM job_errors WHERE job_id = ? ORDER BY attempt, id`;

/**
 * Finished jobs past their retention among the ids in (@after, @upTo]: one
 * window of a sweep over the table (a rowid range, so the window bounds the
 * rows read), at most @limit, so pruning never holds the write lock for long.
 * A null cutoff keeps that kind forever. The newest job stays whatever its
 * age: SQLite gives a new row max(id) + 1, so as long as the newest row is
 * there no id is ever handed out twice (cheaper than AUTOINCREMENT, see 0009).
 */
const PRUNABLE = `
  SELECT id FROM jobs
   WHERE id > @after AND id <= @upTo AND id < (SELECT max(id) FROM jobs)
     AND ((state = ${SUCCEEDED} AND finished_at < @succeededBefore)
       OR (state IN (${FAILED}, ${CANCELLED}) AND finished_at < @failedBefore))
     -- A parent is kept while jobs that run after it wait or run: they read its result (ctx.parents). Only a
     -- job with a job_flow row (migration 0017) can be a parent.
     AND (flow = 0 OR NOT EXISTS (SELECT 1 FROM job_parents p JOIN jobs d ON d.id = p.job_id
                                   WHERE p.parent_id = jobs.id AND d.state IN (${WAITING}, ${RUNNING})))
   ORDER BY id LIMIT @limit`;
export const pruneJobParents = `DELETE FROM job_parents WHERE job_id IN (${PRUNABLE})`;
export const pruneJobErrors = `DELETE FROM job_errors WHERE job_id IN (${PRUNABLE})`;
export const pruneJobNotes = `DELETE FROM job_notes WHERE job_id IN (${PRUNABLE})`;
export const pruneJobFlow = `DELETE FROM job_flow WHERE job_id IN (${PRUNABLE})`;
export const pruneJobs = `DELETE FROM jobs WHERE id IN (${PRUNABLE})`;
export const anyPrunable = `${PRUNABLE.replace('SELECT id', 'SELECT 1')}`;
export const maxJobId = `SELECT max(id) FROM jobs`;
export const firstJobIdAfter = `SELECT id FROM jobs WHERE id > ? ORDER BY id LIMIT 1`;

export const deleteRecurring = `DELETE FROM recurring WHERE service = ? AND method = ? AND name = ?`;

/** Jobs as the API shows them: with their target's names, and their job_flow row if they have one (see {@link JOB_COLUMNS}). */
export const JOBS_WITH_TARGETS = 'jobs JOIN targets ON targets.id = jobs.target_id LEFT JOIN job_flow ON job_flow.job_id = jobs.id';
export const selectJob = `SELECT ${JOB_COLUMNS} FROM ${JOBS_WITH_TARGETS} WHERE jobs.id = ?`;
export const listJobs = `SELECT ${JOB_COLUMNS} FROM ${JOBS_WITH_TARGETS} ORDER BY jobs.id DESC LIMIT @limit`;
export const listJobsFiltered = `
  SELECT ${JOB_COLUMNS} FROM ${JOBS_WITH_TARGETS}
   WHERE (@state IS NULL OR state = @state)
     AND (@tag IS NULL OR EXISTS (SELECT 1 FROM json_each(jobs.tags) WHERE value = @tag))
   ORDER BY jobs.id DESC LIMIT @limit`;

/**
 * The earliest waiting job of the highest priority below @below: one seek in
 * jobs_claim. Called once per distinct priority (a hand-made skip-scan) to
 * find the next due time without an index on run_at alone.
 */
export const nextWaitingBelowPriority = `
  SELECT priority, run_at AS runAt FROM jobs
   WHERE state = ${WAITING} AND priority < @below
   ORDER BY priority DESC, run_at, id LIMIT 1`;

/** Fallback when there are very many distinct priorities: a scan of jobs_claim. */
export const minWaitingRunAt = `SELECT min(run_at) FROM jobs WHERE state = ${WAITING}`;

export const selectRecurringBySignature = `SELECT ${RECURRING_COLUMNS} FROM recurring WHERE service = ? AND method = ? AND name = ?`;
export const selectRecurring = `SELECT ${RECURRING_COLUMNS} FROM recurring WHERE id = ?`;
export const listRecurring = `SELECT ${RECURRING_COLUMNS} FROM recurring ORDER BY service, method, name`;
export const nextRecurringAt = `SELECT min(next_run_at) FROM recurring WHERE paused_at IS NULL`;
export const dueRecurring = `SELECT ${RECURRING_COLUMNS} FROM recurring WHERE next_run_at <= ? AND paused_at IS NULL ORDER BY next_run_at`;
/** See JobStore.pauseRecurring. */
export const pauseRecurring = `UPDATE recurring SET paused_at = COALESCE(paused_at, @at) WHERE id = @id`;
/** See JobStore.resumeRecurring. */
export const resumeRecurring = `
  UPDATE recurring
     SET next_run_at = CASE WHEN paused_at IS NULL THEN next_run_at ELSE max(next_run_at, @nextRunAt) END, paused_at = NULL
   WHERE id = @id`;
export const deleteAllRecurring = `DELETE FROM recurring`;

export const insertRecurring = `
  INSERT INTO recurring (service, method, name, params, every_ms, cron, tz, misfire, priority, max_attempts,
                         timeout_ms, anchor, next_run_at, created_at, updated_at)
  VALUES (@service, @method, @name, @params, @everyMs, @cron, @tz, @misfire, @priority, @maxAttempts,
          @timeoutMs, @anchor, @nextRunAt, @createdAt, @createdAt)`;

/** Same schedule: keep anchor and next run, so re-registering at every start-up changes nothing in time. */
export const updateRecurringKeepSchedule = `
  UPDATE recurring
     SET params = @params, misfire = @misfire, priority = @priority, max_attempts = @maxAttempts,
         timeout_ms = @timeoutMs, updated_at = @createdAt
   WHERE id = @id`;

export const updateRecurringNewSchedule = `
  UPDATE recurring
     SET params = @params, every_ms = @everyMs, cron = @cron, tz = @tz, misfire = @misfire, priority = @priority,
         max_attempts = @maxAttempts, timeout_ms = @timeoutMs, anchor = @anchor, next_run_at = @nextRunAt,
         updated_at = @createdAt
   WHERE id = @id`;

/** Compare-and-set: only the scheduler that still sees the old next run advances it. */
export const advanceRecurring = `UPDATE recurring SET next_run_at = @nextRunAt WHERE id = @id AND next_run_at = @expected AND paused_at IS NULL`;

/** Moves when another connection commits: the cheap change signal between processes. */
export const dataVersion = `PRAGMA data_version`;

/** The file's identity (migration 0009): made with the file, so a file that replaces a deleted one has another. */
export const databaseId = `SELECT value FROM meta WHERE name = 'database_id'`;

/** jobs_occurrence makes a second insert of the same (recurring job, fire time) a no-op. */
export const enqueueOccurrence = `
  INSERT OR IGNORE INTO jobs (target_id, params, priority, run_at, max_attempts, timeout_ms,
                              recurring_id, fire_time, created_at)
  SELECT targets.id, params, priority, @fireTime, max_attempts, timeout_ms, recurring.id, @fireTime, @now
    FROM recurring JOIN targets ON targets.service = recurring.service AND targets.method = recurring.method
   WHERE recurring.id = @id`;

/**
 * Registers a lease owner (migration 0008); a no-op when it exists. See
 * {@link selectOwnerId}. The owners of every statement that binds `@owner`
 * or a trailing owner are these ids: null for a name never registered, which
 * matches no job.
 */
export const insertOwner = `INSERT OR IGNORE INTO owners (name) VALUES (?)`;
export const selectOwnerId = `SELECT id FROM owners WHERE name = ?`;
/** An owner that is gone: its row goes once no running job names it (its id is never reused, see 0008). */
export const deleteOwner = `
  DELETE FROM owners WHERE id = @id AND NOT EXISTS (SELECT 1 FROM jobs WHERE state = ${RUNNING} AND lease_owner = @id)`;

/** Registers a target; a no-op when it exists. See {@link selectTargetId}. */
export const insertTarget = `INSERT OR IGNORE INTO targets (service, method) VALUES (?, ?)`;
export const selectTargetId = `SELECT id FROM targets WHERE service = ? AND method = ?`;
export const selectTarget = `SELECT service, method FROM targets WHERE id = ?`;
