-- The columns of workflows and limits (0011–0015) move out of `jobs` into a
-- side table, job_flow, that only jobs using them have a row in. SQLite
-- rewrites a whole row on every UPDATE: the claim and every outcome of a
-- plain job read and wrote 13 columns it never uses, which cost it about 15%
-- of its claim and outcome (callgrind, instructions in sqlite3_step: 30.0k
-- per job before 0011, 34.3k with the columns and nothing else).
--
-- `jobs.flow` is 1 when the job has a job_flow row: it used `after`, a
-- concurrency key, a debounce key or a rate limit when added, was named in
-- another job's `after`, or was held by a pause. It is never set back to 0,
-- and the row lives as long as the job. The claim reads the flag only and
-- looks job_flow up for the flagged jobs it read. The TEMP triggers
-- (flow-triggers.ts) are on job_flow, run by a small one on `jobs` that
-- copies a flagged job's state change there: a plain job's outcome never
-- reads job_flow.
--
-- run_at is still held at the never-due 9007199254740991 while a job waits
-- for parents, is parked by its key or held by a pause (its run time asked
-- for in job_flow.ready_at): the claim and its index are unchanged.
--
-- `jobs` is rebuilt, as in 0009 (one pass over the table, where thirteen
-- DROP COLUMNs would be thirteen), with `flow` among the claim's columns,
-- before params.

CREATE TABLE job_flow (
  job_id            INTEGER PRIMARY KEY,       -- jobs.id
  target_id         INTEGER NOT NULL,          -- copies of the job's: never change after add,
  priority          INTEGER NOT NULL,          -- and the indexes below need them
  parents           INTEGER NOT NULL DEFAULT 0, -- how many jobs it runs after
  waiting_for       INTEGER NOT NULL DEFAULT 0, -- of those, how many it still waits for
  ready_at          INTEGER,                    -- the run time asked for, while run_at is held
  on_parent_failure INTEGER NOT NULL DEFAULT 0, -- 0: end cancelled; 1: run anyway
  has_dependants    INTEGER NOT NULL DEFAULT 0, -- some job runs after this one
  cancelled_by      INTEGER,                    -- the parent whose failure cancelled it
  concurrency_key   TEXT,
  concurrency_limit INTEGER,
  parked            INTEGER NOT NULL DEFAULT 0, -- due, but its key was full
  debounce_key      TEXT,
  debounce_until    INTEGER,
  held              INTEGER NOT NULL DEFAULT 0, -- due, but its target was paused
  rate_limit        TEXT,
  from_state        INTEGER, -- the job's last state change, as the TEMP triggers (flow-triggers.ts)
  to_state          INTEGER  -- copy it here to run theirs: only right after a change, not kept up to date
);

INSERT INTO job_flow (job_id, target_id, priority, parents, waiting_for, ready_at, on_parent_failure, has_dependants,
                      cancelled_by, concurrency_key, concurrency_limit, parked, debounce_key, debounce_until, held, rate_limit)
SELECT id, target_id, priority, parents, waiting_for, ready_at, on_parent_failure, has_dependants,
       cancelled_by, concurrency_key, concurrency_limit, parked, debounce_key, debounce_until, held, rate_limit
  FROM jobs
 WHERE parents <> 0 OR waiting_for <> 0 OR ready_at IS NOT NULL OR on_parent_failure <> 0 OR has_dependants <> 0
    OR cancelled_by IS NOT NULL OR concurrency_key IS NOT NULL OR concurrency_limit IS NOT NULL OR parked <> 0
    OR debounce_key IS NOT NULL OR debounce_until IS NOT NULL OR held <> 0 OR rate_limit IS NOT NULL;

CREATE TABLE jobs_v17 (
  id               INTEGER PRIMARY KEY,
  state            INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 4),
  priority         INTEGER NOT NULL DEFAULT 0,
  run_at           INTEGER NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL DEFAULT 1,
  timeout_ms       INTEGER,
  lease_owner      INTEGER, -- owners.id while running, else NULL
  isolated         INTEGER NOT NULL DEFAULT 0,
  flow             INTEGER NOT NULL DEFAULT 0, -- 1: it has a job_flow row
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  target_id        INTEGER NOT NULL, -- targets.id
  params           TEXT    NOT NULL,
  recurring_id     INTEGER,
  fire_time        INTEGER,
  key              TEXT,
  tags             TEXT,
  created_at       INTEGER NOT NULL,
  started_at       INTEGER,
  finished_at      INTEGER,
  result           TEXT,
  error            TEXT,
  progress_current REAL,
  progress_total   REAL,
  progress_at      INTEGER
);

INSERT INTO jobs_v17 (id, state, priority, run_at, attempts, max_attempts, timeout_ms, lease_owner, isolated, flow,
                      cancel_requested, target_id, params, recurring_id, fire_time, key, tags, created_at,
                      started_at, finished_at, result, error, progress_current, progress_total, progress_at)
SELECT id, state, priority, run_at, attempts, max_attempts, timeout_ms, lease_owner, isolated,
       EXISTS (SELECT 1 FROM job_flow WHERE job_flow.job_id = jobs.id),
       cancel_requested, target_id, params, recurring_id, fire_time, key, tags, created_at,
       started_at, finished_at, result, error, progress_current, progress_total, progress_at
  FROM jobs;

-- Its indexes go with it: jobs_cancelled_by, jobs_concurrency_waiting, jobs_concurrency_parked, jobs_debounce, jobs_held.
DROP TABLE jobs;
ALTER TABLE jobs_v17 RENAME TO jobs;

-- As after 0009.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, id) WHERE state = 0;
CREATE INDEX jobs_running_owner ON jobs (lease_owner) WHERE state = 1;
CREATE UNIQUE INDEX jobs_occurrence ON jobs (recurring_id, fire_time) WHERE recurring_id IS NOT NULL;
CREATE UNIQUE INDEX jobs_active_key ON jobs (target_id, key) WHERE key IS NOT NULL AND state IN (0, 1);

-- The old indexes, on job_flow. None names the job's state (it is in `jobs`): the statements join for it.
CREATE INDEX job_flow_cancelled_by ON job_flow (cancelled_by) WHERE cancelled_by IS NOT NULL;
-- Parking a key's due jobs; the key's oldest parked jobs in claim order, as the release reads them.
CREATE INDEX job_flow_concurrency ON job_flow (concurrency_key) WHERE concurrency_key IS NOT NULL;
CREATE INDEX job_flow_parked ON job_flow (concurrency_key, priority DESC, ready_at, job_id) WHERE parked = 1;
CREATE INDEX job_flow_debounce ON job_flow (debounce_key, target_id) WHERE debounce_key IS NOT NULL;
CREATE INDEX job_flow_held ON job_flow (target_id) WHERE held = 1;
