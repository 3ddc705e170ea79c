-- Unique jobs: while a job with the same service, method and key is waiting
-- or running, adding another returns it instead (Gearman's coalescing).
ALTER TABLE jobs ADD COLUMN key TEXT;
CREATE UNIQUE INDEX jobs_active_key ON jobs (service, method, key)
  WHERE key IS NOT NULL AND state IN ('waiting', 'running');

-- aws-flow's tag_list: a JSON array of strings.
ALTER TABLE jobs ADD COLUMN tags TEXT;

-- Gearman WORK_STATUS: the latest progress of a running job.
ALTER TABLE jobs ADD COLUMN progress_current REAL;
ALTER TABLE jobs ADD COLUMN progress_total REAL;
ALTER TABLE jobs ADD COLUMN progress_at INTEGER;

-- Gearman WORK_DATA / WORK_WARNING: notes a running job leaves.
CREATE TABLE job_notes (
  id      INTEGER PRIMARY KEY,
  job_id  INTEGER NOT NULL,
  level   TEXT    NOT NULL CHECK (level IN ('note', 'warning')),
  message TEXT    NOT NULL,
  at      INTEGER NOT NULL
);
CREATE INDEX job_notes_job ON job_notes (job_id, id);
