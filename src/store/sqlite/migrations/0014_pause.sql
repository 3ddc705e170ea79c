-- Pause and resume (issue 18): a paused service (method '') or service.method
-- is not claimed; running jobs finish and adds still succeed. Stored, so every
-- worker on the database obeys it.
--
-- A paused target's waiting jobs are held (run_at at never-due, the run time
-- asked for in ready_at) when it is paused, and any other the claim meets
-- (added, retried or let through since) is held then: held jobs cost other
-- jobs' claims nothing. Resuming makes them due again.

CREATE TABLE paused (
  service TEXT NOT NULL,
  method  TEXT NOT NULL, -- '' for the whole service
  at      INTEGER NOT NULL,
  PRIMARY KEY (service, method)
) WITHOUT ROWID;

ALTER TABLE jobs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_held ON jobs (target_id) WHERE held = 1;
