-- Three things a review found missing (issue 14):
--
-- * A database identity, `meta.database_id`: random, made with the file. A
--   file that replaces a deleted one starts its ids at 1 again; every job
--   handle, claim and outcome carries the identity of the file it belongs to,
--   so an outcome or a handle from before the delete never lands on, or
--   resolves with, the job that got the same id in the new file.
--
-- * Liveness by heartbeat counts, not wall-clock deadlines: a worker's
--   heartbeat increments `owners.beat`, and another worker takes its jobs back
--   only after watching that count stand still for a lease's length of its
--   own monotonic time. A wall-clock step can no longer make every lease look
--   expired; `jobs.lease_until` goes (nothing reads it any more, and the claim
--   no longer writes it). `owners.beat_at` is when it last beat, for display.
--
-- * `jobs.isolated`: a job whose attempt blocked its worker process (a busy
--   loop past its timeout) runs alone from then on, so it cannot stall the
--   jobs next to it again. Placed with the claim's columns, before params: a
--   column after a large params text can sit on an overflow page.
--
-- The table is rebuilt, as in 0005, 0007 and 0008. Still no AUTOINCREMENT:
-- it costs every single add a quarter of its speed (a sqlite_sequence page
-- rewritten per commit); pruning never deletes the newest job instead, so
-- SQLite's max(id) + 1 never hands out an id twice.

CREATE TABLE meta (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT INTO meta (name, value) VALUES ('database_id', lower(hex(randomblob(16))));

ALTER TABLE owners ADD COLUMN beat INTEGER NOT NULL DEFAULT 0;
ALTER TABLE owners ADD COLUMN beat_at INTEGER;

CREATE TABLE jobs_v9 (
  id               INTEGER PRIMARY KEY,
  state            INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 4),
  priority         INTEGER NOT NULL DEFAULT 0,
  run_at           INTEGER NOT NULL,
  attempts         INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL DEFAULT 1,
  timeout_ms       INTEGER,
  lease_owner      INTEGER, -- owners.id while running, else NULL
  isolated         INTEGER NOT NULL DEFAULT 0,
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

INSERT INTO jobs_v9 (id, state, priority, run_at, attempts, max_attempts, timeout_ms, lease_owner,
                     cancel_requested, target_id, params, recurring_id, fire_time, key, tags, created_at,
                     started_at, finished_at, result, error, progress_current, progress_total, progress_at)
SELECT id, state, priority, run_at, attempts, max_attempts, timeout_ms, lease_owner,
       cancel_requested, target_id, params, recurring_id, fire_time, key, tags, created_at,
       started_at, finished_at, result, error, progress_current, progress_total, progress_at
  FROM jobs;

DROP TABLE jobs;
ALTER TABLE jobs_v9 RENAME TO jobs;

-- As after 0008.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, id) WHERE state = 0;
CREATE INDEX jobs_running_owner ON jobs (lease_owner) WHERE state = 1;
CREATE UNIQUE INDEX jobs_occurrence ON jobs (recurring_id, fire_time) WHERE recurring_id IS NOT NULL;
CREATE UNIQUE INDEX jobs_active_key ON jobs (target_id, key) WHERE key IS NOT NULL AND state IN (0, 1);
