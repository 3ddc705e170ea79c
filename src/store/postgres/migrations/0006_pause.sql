-- Pause and resume (issue 18), as on SQLite (its migration 0014): paused
-- targets are not claimed; their waiting jobs are held (never due) when
-- paused, or when a claim meets one; resuming makes them due again.

CREATE TABLE paused (
  service text   NOT NULL,
  method  text   NOT NULL, -- '' for the whole service
  at      bigint NOT NULL,
  PRIMARY KEY (service, method)
);

ALTER TABLE jobs ADD COLUMN held boolean NOT NULL DEFAULT false;
CREATE INDEX jobs_held ON jobs (service, method) WHERE held;
