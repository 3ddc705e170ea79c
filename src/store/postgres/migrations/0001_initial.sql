-- The PostgreSQL store's schema. Runs with search_path set to the store's
-- schema (migrate.ts), so names here are unqualified. Times are UTC epoch
-- milliseconds (bigint), as everywhere in the JobStore contract.

-- The database identity (JobStore's AddedJobs.database): random, made with
-- the schema. A schema dropped and made again has another, so an id, a
-- handle or an outcome from before is never taken for the job that got the
-- same id afterwards (DatabaseReplacedError).
CREATE TABLE meta (
  name  text PRIMARY KEY,
  value text NOT NULL
);
INSERT INTO meta (name, value) VALUES ('database_id', replace(gen_random_uuid()::text, '-', ''));

-- Workers holding jobs. `id` comes from a sequence, so an owner forgotten
-- (abandoned or retired) and registered again gets a new id, and a write
-- fenced by the old one matches nothing. `beat` grows by one per heartbeat:
-- liveness is judged by watching it, never by comparing clocks.
CREATE TABLE owners (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name    text   NOT NULL UNIQUE,
  beat    bigint NOT NULL DEFAULT 0,
  beat_at bigint
);

-- Job ids are shared by the two job tables and never reused (a sequence), so
-- pruning can delete any finished job, the newest included, without an id
-- being handed out twice.
CREATE SEQUENCE job_ids;

-- The hot table: waiting (0) and running (1) jobs only. A finished job moves
-- to finished_jobs in the transaction that finishes it, so the claim path
-- (this table and its indexes) stays as small as the backlog however many
-- finished jobs are kept, and its dead rows are vacuumed quickly.
CREATE TABLE jobs (
  id               bigint  PRIMARY KEY DEFAULT nextval('job_ids'),
  state            smallint NOT NULL DEFAULT 0 CHECK (state IN (0, 1)),
  priority         integer NOT NULL,
  run_at           bigint  NOT NULL,
  attempts         integer NOT NULL DEFAULT 0,
  max_attempts     integer NOT NULL,
  timeout_ms       bigint,
  lease_owner      bigint, -- owners.id while running; no REFERENCES: a check on every claim
  isolated         boolean NOT NULL DEFAULT false,
  cancel_requested boolean NOT NULL DEFAULT false,
  service          text    NOT NULL,
  method           text    NOT NULL,
  params           text    NOT NULL,
  recurring_id     bigint,
  fire_time        bigint,
  key              text,
  tags             text[],
  created_at       bigint  NOT NULL,
  started_at       bigint,
  error            text,
  progress_current double precision,
  progress_total   double precision,
  progress_at      bigint,
  CHECK ((state = 1) = (lease_owner IS NOT NULL))
) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000);

-- The claim walks this in order (FOR UPDATE SKIP LOCKED … LIMIT) and stops:
-- no sort, and only waiting jobs are in it.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, id) WHERE state = 0;
-- A worker's running jobs: fencing checks go by primary key, but heartbeats,
-- abandon, cancel requests and ownerBeats look jobs up by owner.
CREATE INDEX jobs_running_owner ON jobs (lease_owner) WHERE state = 1;
-- Unique keys: only waiting and running jobs are in this table, so the index
-- holds exactly the active keys. Race-free across hosts: INSERT … ON CONFLICT.
CREATE UNIQUE INDEX jobs_active_key ON jobs (service, method, key) WHERE key IS NOT NULL;

-- Succeeded (2), failed (3) and cancelled (4) jobs: written once, read by
-- watchers and the CLI, deleted by retention in bounded batches.
CREATE TABLE finished_jobs (
  id               bigint  PRIMARY KEY,
  state            smallint NOT NULL CHECK (state IN (2, 3, 4)),
  priority         integer NOT NULL,
  run_at           bigint  NOT NULL,
  attempts         integer NOT NULL,
  max_attempts     integer NOT NULL,
  timeout_ms       bigint,
  isolated         boolean NOT NULL,
  service          text    NOT NULL,
  method           text    NOT NULL,
  params           text    NOT NULL,
  recurring_id     bigint,
  fire_time        bigint,
  key              text,
  tags             text[],
  created_at       bigint  NOT NULL,
  started_at       bigint,
  finished_at      bigint  NOT NULL,
  result           text,
  error            text,
  progress_current double precision,
  progress_total   double precision,
  progress_at      bigint
);

CREATE TABLE recurring (
  -- From a sequence: never reused, so a removed recurring job's fires cannot block a new one's.
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  service      text    NOT NULL,
  method       text    NOT NULL,
  name         text    NOT NULL DEFAULT '',
  params       text    NOT NULL,
  every_ms     bigint,
  cron         text,
  tz           text,
  misfire      text    NOT NULL,
  priority     integer NOT NULL,
  max_attempts integer NOT NULL,
  timeout_ms   bigint,
  anchor       bigint  NOT NULL,
  next_run_at  bigint  NOT NULL,
  created_at   bigint  NOT NULL,
  updated_at   bigint  NOT NULL,
  CHECK ((every_ms IS NULL) <> (cron IS NULL)),
  UNIQUE (service, method, name)
);
CREATE INDEX recurring_next_run ON recurring (next_run_at);

-- Each occurrence of a recurring job is enqueued once, however many
-- schedulers on however many hosts try: the primary key decides, across both
-- job tables (a unique index cannot span two tables). Pruned with its job.
CREATE TABLE recurring_fires (
  recurring_id bigint NOT NULL,
  fire_time    bigint NOT NULL,
  PRIMARY KEY (recurring_id, fire_time)
);

-- Every failed or lost attempt, not only the last error.
CREATE TABLE job_errors (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id  bigint  NOT NULL,
  attempt integer NOT NULL,
  name    text    NOT NULL,
  message text    NOT NULL,
  stack   text,
  at      bigint  NOT NULL
);
CREATE INDEX job_errors_job ON job_errors (job_id, attempt);

-- Notes and warnings running jobs leave (Gearman WORK_DATA / WORK_WARNING).
CREATE TABLE job_notes (
  id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id  bigint NOT NULL,
  level   text   NOT NULL CHECK (level IN ('note', 'warning')),
  message text   NOT NULL,
  at      bigint NOT NULL
);
CREATE INDEX job_notes_job ON job_notes (job_id, id);

-- The id of owner `owner_name`, registering it if it has none, with its row
-- locked FOR KEY SHARE until the caller's transaction ends: abandon and
-- retire lock it FOR UPDATE, so an owner is never forgotten while a claim
-- is leasing it jobs (which would leave them held by an id nobody beats
-- for). Each statement in a volatile function sees what committed before it,
-- so a row another transaction just inserted or deleted is found or not.
CREATE FUNCTION owner_id(owner_name text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
DECLARE
  found_id bigint;
BEGIN
  LOOP
    SELECT id INTO found_id FROM owners WHERE name = owner_name FOR KEY SHARE;
    IF found_id IS NOT NULL THEN RETURN found_id; END IF;
    INSERT INTO owners (name) VALUES (owner_name) ON CONFLICT (name) DO NOTHING RETURNING id INTO found_id;
    IF found_id IS NOT NULL THEN RETURN found_id; END IF;
  END LOOP;
END
$$;
