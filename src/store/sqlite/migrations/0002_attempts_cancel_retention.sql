-- Every failed or lost attempt is kept, not only the last error.
CREATE TABLE job_errors (
  id      INTEGER PRIMARY KEY,
  job_id  INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  name    TEXT    NOT NULL,
  message TEXT    NOT NULL,
  stack   TEXT,
  at      INTEGER NOT NULL
);
CREATE INDEX job_errors_job ON job_errors (job_id, attempt);

-- A running job asked to stop: its worker aborts it and records it cancelled.
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;

-- A worker's running jobs: cancel requests, a dead worker's jobs, the supervisor's timeout check.
CREATE INDEX jobs_running_owner ON jobs (lease_owner) WHERE state = 'running';

-- Retention: finished jobs are pruned by age, oldest first, in small batches.
CREATE INDEX jobs_finished ON jobs (state, finished_at) WHERE finished_at IS NOT NULL;
