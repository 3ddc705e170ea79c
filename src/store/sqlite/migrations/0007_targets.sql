-- A job names its method by a small integer, `target_id`, into `targets`
-- (service, method), instead of two strings in every row: the row, the
-- unique-key index and the claim's result get narrower, and the claim hands
-- the worker strings the store already holds instead of two new ones a job
-- (bench/RESULTS.md). The store caches targets in both directions; a target
-- is never deleted. The table is rebuilt, as in 0005, to keep the claim's
-- columns first.

CREATE TABLE targets (
  id      INTEGER PRIMARY KEY,
  service TEXT NOT NULL,
  method  TEXT NOT NULL,
  UNIQUE (service, method)
);

INSERT INTO targets (service, method)
SELECT service, method FROM jobs
UNION
SELECT service, method FROM recurring;

CREATE TABLE jobs_v7 (
  id               INTEGER PRIMARY KEY,
  state            INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 4),
  priority         INTEGER NOT NULL DEFAULT 0,
  run_at           INTEGER NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL DEFAULT 1,
  timeout_ms       INTEGER,
  lease_owner      TEXT,
  lease_until      INTEGER,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  target_id        INTEGER NOT NULL, -- targets.id; no REFERENCES: a check on every insert, and targets are never deleted
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

INSERT INTO jobs_v7 (id, state, priority, run_at, attempts, max_attempts, timeout_ms, lease_owner, lease_until,
                     cancel_requested, target_id, params, recurring_id, fire_time, key, tags, created_at,
                     started_at, finished_at, result, error, progress_current, progress_total, progress_at)
SELECT jobs.id, state, priority, run_at, attempts, max_attempts, timeout_ms, lease_owner, lease_until,
       cancel_requested, targets.id, params, recurring_id, fire_time, key, tags, created_at,
       started_at, finished_at, result, error, progress_current, progress_total, progress_at
  FROM jobs JOIN targets ON targets.service = jobs.service AND targets.method = jobs.method;

DROP TABLE jobs;
ALTER TABLE jobs_v7 RENAME TO jobs;

-- As after 0006, with the unique key on the target.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, id) WHERE state = 0;
CREATE INDEX jobs_running_owner ON jobs (lease_owner) WHERE state = 1;
CREATE UNIQUE INDEX jobs_occurrence ON jobs (recurring_id, fire_time) WHERE recurring_id IS NOT NULL;
CREATE UNIQUE INDEX jobs_active_key ON jobs (target_id, key) WHERE key IS NOT NULL AND state IN (0, 1);
