-- Jobs and recurring jobs. Times are UTC epoch milliseconds.

CREATE TABLE recurring (
  -- AUTOINCREMENT: an id is never reused, so history rows of a removed
  -- recurring job cannot collide with a new one in jobs_occurrence.
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  service      TEXT    NOT NULL,
  method       TEXT    NOT NULL,
  name         TEXT    NOT NULL DEFAULT '',
  params       TEXT    NOT NULL,
  every_ms     INTEGER,
  cron         TEXT,
  tz           TEXT,
  misfire      TEXT    NOT NULL DEFAULT 'once',
  priority     INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 1,
  timeout_ms   INTEGER,
  anchor       INTEGER NOT NULL,
  next_run_at  INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  CHECK ((every_ms IS NULL) <> (cron IS NULL))
);

-- The signature: adding the same one again replaces it.
CREATE UNIQUE INDEX recurring_signature ON recurring (service, method, name);
CREATE INDEX recurring_next_run ON recurring (next_run_at);

CREATE TABLE jobs (
  id           INTEGER PRIMARY KEY,
  service      TEXT    NOT NULL,
  method       TEXT    NOT NULL,
  params       TEXT    NOT NULL,
  state        TEXT    NOT NULL DEFAULT 'waiting'
               CHECK (state IN ('waiting', 'running', 'succeeded', 'failed', 'cancelled')),
  priority     INTEGER NOT NULL DEFAULT 0,
  run_at       INTEGER NOT NULL,
  attempts     INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 1,
  timeout_ms   INTEGER,
  lease_owner  TEXT,
  lease_until  INTEGER,
  result       TEXT,
  error        TEXT,
  recurring_id INTEGER,
  fire_time    INTEGER,
  created_at   INTEGER NOT NULL,
  started_at   INTEGER,
  finished_at  INTEGER
);

-- The claim walks this in order and stops at LIMIT: no sort, and finished
-- jobs never enter it, so it stays as small as the backlog.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, id) WHERE state = 'waiting';
-- When nothing is due: the earliest future run, to set the wake-up timer.
CREATE INDEX jobs_waiting_run_at ON jobs (run_at) WHERE state = 'waiting';
-- Lease recovery looks only at running jobs.
CREATE INDEX jobs_running_lease ON jobs (lease_until) WHERE state = 'running';
-- Each occurrence of a recurring job is enqueued once, whatever the number of schedulers.
CREATE UNIQUE INDEX jobs_occurrence ON jobs (recurring_id, fire_time) WHERE recurring_id IS NOT NULL;
