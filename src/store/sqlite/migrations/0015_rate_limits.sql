-- Rate limits (issue 18): named limits every process agrees on; a job with
-- rate_limit starts only while fewer than max_starts jobs under the name
-- started in the last per_ms (a sliding log, rate_starts: never more than the
-- limit in any window of that length). A job over the limit is not failed or
-- polled: its run time moves to its name's next free slot (claim-jobs.ts).

CREATE TABLE rate_limits (
  name       TEXT PRIMARY KEY,
  max_starts INTEGER NOT NULL CHECK (max_starts > 0),
  per_ms     INTEGER NOT NULL CHECK (per_ms > 0)
) WITHOUT ROWID;

CREATE TABLE rate_starts (
  name TEXT    NOT NULL,
  at   INTEGER NOT NULL,
  id   INTEGER NOT NULL, -- the job: several may start in one millisecond
  PRIMARY KEY (name, at, id)
) WITHOUT ROWID;

ALTER TABLE jobs ADD COLUMN rate_limit TEXT;
