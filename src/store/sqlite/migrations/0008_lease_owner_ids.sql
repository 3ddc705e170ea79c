-- A running job names its worker by a small integer, `lease_owner`, into
-- `owners` (the worker's `host:pid:random` name), instead of that string in
-- the row: the claim grew every row by ~30 bytes (more leaves split on each
-- claim) and wrote the string into jobs_running_owner. With an integer, a
-- drain writes 9% fewer pages and SQLite runs 3% fewer instructions per
-- claimed and completed job (bench/RESULTS.md, session 7).
--
-- AUTOINCREMENT: a worker's row is deleted once it is gone (abandoned or
-- retired), and another process may still hold its id in its cache; an id
-- that is never reused can only ever match that worker's jobs.
-- The table is rebuilt, as in 0007, to keep the claim's columns first.

CREATE TABLE owners (
  id   INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE
);

INSERT INTO owners (name) SELECT DISTINCT lease_owner FROM jobs WHERE lease_owner IS NOT NULL;

CREATE TABLE jobs_v8 (
  id               INTEGER PRIMARY KEY,
  state            INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 4),
  priority         INTEGER NOT NULL DEFAULT 0,
  run_at           INTEGER NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL DEFAULT 1,
  timeout_ms       INTEGER,
  lease_owner      INTEGER, -- owners.id while running, else NULL; no REFERENCES: a check on every claim
  lease_until      INTEGER,
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

INSERT INTO jobs_v8 (id, state, priority, run_at, attempts, max_attempts, timeout_ms, lease_owner, lease_until,
                     cancel_requested, target_id, params, recurring_id, fire_time, key, tags, created_at,
                     started_at, finished_at, result, error, progress_current, progress_total, progress_at)
SELECT jobs.id, state, priority, run_at, attempts, max_attempts, timeout_ms, owners.id, lease_until,
       cancel_requested, target_id, params, recurring_id, fire_time, key, tags, created_at,
       started_at, finished_at, result, error, progress_current, progress_total, progress_at
  FROM jobs LEFT JOIN owners ON owners.name = jobs.lease_owner;

DROP TABLE jobs;
ALTER TABLE jobs_v8 RENAME TO jobs;

-- As after 0007.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, id) WHERE state = 0;
CREATE INDEX jobs_running_owner ON jobs (lease_owner) WHERE state = 1;
CREATE UNIQUE INDEX jobs_occurrence ON jobs (recurring_id, fire_time) WHERE recurring_id IS NOT NULL;
CREATE UNIQUE INDEX jobs_active_key ON jobs (target_id, key) WHERE key IS NOT NULL AND state IN (0, 1);
