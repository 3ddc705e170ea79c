-- The live state of workflows and limits (0003–0007) moves out of `jobs`
-- into a side table, job_flow, as on SQLite (its migration 0017). A plain
-- job's claim and outcome formed, read and checked twelve columns it never
-- used, and every update of it compared the columns of four partial indexes
-- on them: 16k of the server's 219k instructions per plain job claimed and
-- completed (valgrind, bench/pg-instructions.sh; 195k before 0003).
--
-- `jobs.flow` is true while the job has a job_flow row: it used `after`, a
-- concurrency key, debounce or a rate limit when added, another job's
-- `after` names it, or a pause held it. The row lives as long as the job is
-- in `jobs`: the row trigger on its DELETE (made with the others by
-- use_job_flow(), which every path that makes a row calls first) removes it,
-- after the statement that archived the job copied what finished_jobs keeps
-- (its columns are unchanged). The claim reads only the flag, and looks
-- job_flow up for the flagged jobs among its candidates.
--
-- run_at is still held at the never-due 9007199254740991 while a job waits
-- for parents, is parked by its key or held by a pause (its run time asked
-- for in job_flow.ready_at): the claim and its index are unchanged.
--
-- Debounce no longer has a unique index: a debounced add takes a transaction
-- advisory lock on its service, method and key, then looks for the waiting
-- job (locking its `jobs` row, as a claim does, so the lock order is the
-- same) and moves it, or adds one.
--
-- `jobs` is rebuilt, once, with `flow` among the fixed-width columns: twelve
-- DROP COLUMNs would leave twelve dropped attributes every row still carries.

CREATE TABLE job_flow (
  job_id            bigint  PRIMARY KEY,        -- jobs.id
  service           text    NOT NULL,           -- copies of the job's: never change after add,
  method            text    NOT NULL,           -- and the indexes below need them
  priority          integer NOT NULL,
  parents           integer NOT NULL DEFAULT 0, -- how many jobs it runs after
  waiting_for       integer NOT NULL DEFAULT 0, -- of those, how many it still waits for
  ready_at          bigint,                     -- the run time asked for, while run_at is held
  on_parent_failure boolean NOT NULL DEFAULT false,
  has_dependants    boolean NOT NULL DEFAULT false,
  concurrency_key   text,
  concurrency_limit integer,
  parked            boolean NOT NULL DEFAULT false, -- due, but its key was full
  debounce_key      text,
  debounce_until    bigint,
  held              boolean NOT NULL DEFAULT false, -- due, but its target was paused
  rate_limit        text
);

INSERT INTO job_flow (job_id, service, method, priority, parents, waiting_for, ready_at, on_parent_failure, has_dependants,
                      concurrency_key, concurrency_limit, parked, debounce_key, debounce_until, held, rate_limit)
SELECT id, service, method, priority, parents, waiting_for, ready_at, on_parent_failure, has_dependants,
       concurrency_key, concurrency_limit, parked, debounce_key, debounce_until, held, rate_limit
  FROM jobs
 WHERE parents <> 0 OR waiting_for <> 0 OR ready_at IS NOT NULL OR on_parent_failure OR has_dependants
    OR concurrency_key IS NOT NULL OR concurrency_limit IS NOT NULL OR parked OR debounce_key IS NOT NULL
    OR debounce_until IS NOT NULL OR held OR rate_limit IS NOT NULL;

CREATE TABLE jobs_v10 (
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
  flow             boolean NOT NULL DEFAULT false, -- true: it has a job_flow row
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

INSERT INTO jobs_v10 (id, state, priority, run_at, attempts, max_attempts, timeout_ms, lease_owner, isolated, cancel_requested,
                      flow, service, method, params, recurring_id, fire_time, key, tags, created_at, started_at, error,
                      progress_current, progress_total, progress_at)
SELECT id, state, priority, run_at, attempts, max_attempts, timeout_ms, lease_owner, isolated, cancel_requested,
       EXISTS (SELECT 1 FROM job_flow f WHERE f.job_id = jobs.id), service, method, params, recurring_id, fire_time, key, tags,
       created_at, started_at, error, progress_current, progress_total, progress_at
  FROM jobs;

-- Its indexes and triggers go with it: jobs_concurrency_waiting, jobs_concurrency_parked, jobs_debounce, jobs_held.
DROP TABLE jobs;
ALTER TABLE jobs_v10 RENAME TO jobs;
ALTER INDEX jobs_v10_pkey RENAME TO jobs_pkey;

-- As in 0001.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, id) WHERE state = 0;
CREATE INDEX jobs_running_owner ON jobs (lease_owner) WHERE state = 1;
CREATE UNIQUE INDEX jobs_active_key ON jobs (service, method, key) WHERE key IS NOT NULL;

-- The old indexes, on job_flow; none names the job's state (it is in `jobs`): the statements join for it, and a
-- job's row goes when it leaves `jobs`.
CREATE INDEX job_flow_concurrency ON job_flow (concurrency_key) WHERE concurrency_key IS NOT NULL AND NOT parked;
CREATE INDEX job_flow_parked ON job_flow (concurrency_key, priority DESC, ready_at, job_id) WHERE parked;
CREATE INDEX job_flow_debounce ON job_flow (service, method, debounce_key) WHERE debounce_key IS NOT NULL;
CREATE INDEX job_flow_held ON job_flow (service, method) WHERE held;

-- The triggers' functions, on job_flow.

CREATE OR REPLACE FUNCTION settle_dependants() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  released integer := 0;
  now_ms bigint := NEW.finished_at;
BEGIN
  -- The dependants' jobs rows first, as a claim locks them before their job_flow rows (the triggers below).
  WITH waiting AS (
    SELECT j.id FROM jobs j WHERE j.id IN (SELECT job_id FROM job_parents WHERE parent_id = NEW.id) AND j.state = 0
     ORDER BY j.id FOR UPDATE
  ), counted AS (
    UPDATE job_flow f SET waiting_for = f.waiting_for - 1
      FROM waiting w
     WHERE f.job_id = w.id AND f.waiting_for > 0 AND (NEW.state = 2 OR f.on_parent_failure)
    RETURNING f.job_id, f.waiting_for, f.ready_at
  )
  UPDATE jobs j SET run_at = greatest(c.ready_at, now_ms) FROM counted c WHERE j.id = c.job_id AND c.waiting_for = 0;
  GET DIAGNOSTICS released = ROW_COUNT;
  IF NEW.state <> 2 THEN
    -- The column list follows archive-jobs.ts (FINISHED_COLUMNS).
    WITH cancelled AS (
      DELETE FROM jobs j USING job_flow f
       WHERE j.id IN (SELECT job_id FROM job_parents WHERE parent_id = NEW.id) AND j.state = 0
         AND f.job_id = j.id AND f.waiting_for > 0 AND NOT f.on_parent_failure
      RETURNING j.*, f.parents AS f_parents, f.ready_at AS f_ready_at, f.has_dependants AS f_has_dependants,
                f.concurrency_key AS f_concurrency_key, f.concurrency_limit AS f_concurrency_limit, f.rate_limit AS f_rate_limit
    )
    INSERT INTO finished_jobs (id, state, priority, run_at, attempts, max_attempts, timeout_ms, isolated, service, method, params,
                               recurring_id, fire_time, key, tags, created_at, started_at, finished_at, result, error,
                               progress_current, progress_total, progress_at, parents, ready_at, on_parent_failure, has_dependants,
                               cancelled_by, concurrency_key, concurrency_limit, rate_limit)
    SELECT id, 4, priority, run_at, attempts, max_attempts, timeout_ms, isolated, service, method, params,
           recurring_id, fire_time, key, tags, created_at, started_at, now_ms, NULL,
           json_build_object('name', 'ParentFailedError',
                             'message', 'job ' || NEW.id || ', which this job runs after, ended '
                                        || CASE NEW.state WHEN 3 THEN 'failed' ELSE 'cancelled' END)::text,
           progress_current, progress_total, progress_at, f_parents, f_ready_at, false, f_has_dependants, NEW.id,
           f_concurrency_key, f_concurrency_limit, f_rate_limit
      FROM cancelled;
  END IF;
  IF released > 0 THEN
    PERFORM pg_notify(left(TG_TABLE_SCHEMA || '_changes', 63), 'dependants:work');
  END IF;
  RETURN NULL;
END
$$;

-- A flagged job started running: its key's count, if it has a key.
CREATE OR REPLACE FUNCTION concurrency_started() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  UPDATE concurrency_keys SET running = running + 1
   WHERE key = (SELECT concurrency_key FROM job_flow WHERE job_id = NEW.id);
  RETURN NULL;
END
$$;

-- The oldest parked jobs of `key` there is room for are due again: after a running job of the key stopped
-- (`was_running`), or a due one went without running (cancelled).
CREATE FUNCTION release_parked(schema_name text, key_name text, key_limit integer, was_running boolean) RETURNS void LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  room integer := 1;
  released integer := 0;
BEGIN
  IF was_running THEN
    UPDATE concurrency_keys SET running = greatest(running - 1, 0) WHERE key = key_name
      RETURNING greatest(1, coalesce(key_limit, 1) - running) INTO room;
    room := coalesce(room, 1); -- no row (it is made with the key's first job): one, never LIMIT NULL (all)
  END IF;
  -- The jobs rows first (locked, SKIP LOCKED: one a claim holds is left to it), then their job_flow rows.
  WITH picked AS MATERIALIZED (
    SELECT j.id, f.ready_at FROM job_flow f JOIN jobs j ON j.id = f.job_id
     WHERE f.parked AND f.concurrency_key = key_name AND j.state = 0
     ORDER BY f.priority DESC, f.ready_at, f.job_id LIMIT room
       FOR UPDATE OF j SKIP LOCKED
  ), unparked AS (
    UPDATE job_flow f SET parked = false FROM picked p WHERE f.job_id = p.id
  )
  UPDATE jobs j SET run_at = p.ready_at FROM picked p WHERE j.id = p.id;
  GET DIAGNOSTICS released = ROW_COUNT;
  IF released > 0 THEN
    PERFORM pg_notify(left(schema_name || '_changes', 63), 'concurrency:work');
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION concurrency_stopped() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  flow job_flow%ROWTYPE;
BEGIN
  SELECT * INTO flow FROM job_flow WHERE job_id = OLD.id;
  IF flow.concurrency_key IS NOT NULL THEN
    PERFORM release_parked(TG_TABLE_SCHEMA, flow.concurrency_key, flow.concurrency_limit, true);
  END IF;
  RETURN NULL;
END
$$;

-- A flagged job left `jobs` (it finished; the statement that moved it has copied what finished_jobs keeps): its
-- job_flow row goes, and a keyed job that was running, or due without running, makes room for a parked one.
CREATE FUNCTION job_flow_ended() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  flow job_flow%ROWTYPE;
BEGIN
  DELETE FROM job_flow WHERE job_id = OLD.id RETURNING * INTO flow;
  IF flow.concurrency_key IS NOT NULL AND (OLD.state = 1 OR NOT flow.parked) THEN
    PERFORM release_parked(TG_TABLE_SCHEMA, flow.concurrency_key, flow.concurrency_limit, OLD.state = 1);
  END IF;
  RETURN NULL;
END
$$;

-- The triggers on `jobs`, made again (they went with the old table) where the schema used them, and by
-- use_job_flow() when it first does: every path that gives a job a job_flow row calls it first.
CREATE FUNCTION make_jobs_flow_triggers() RETURNS void LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  CREATE TRIGGER jobs_flow_started AFTER UPDATE OF state ON jobs
    FOR EACH ROW WHEN (NEW.flow AND NEW.state = 1 AND OLD.state <> 1)
    EXECUTE FUNCTION concurrency_started();
  CREATE TRIGGER jobs_flow_stopped AFTER UPDATE OF state ON jobs
    FOR EACH ROW WHEN (OLD.flow AND OLD.state = 1 AND NEW.state <> 1)
    EXECUTE FUNCTION concurrency_stopped();
  CREATE TRIGGER jobs_flow_ended AFTER DELETE ON jobs
    FOR EACH ROW WHEN (OLD.flow)
    EXECUTE FUNCTION job_flow_ended();
END
$$;

-- As in 0009, with the triggers above.
CREATE OR REPLACE FUNCTION use_job_flow() RETURNS void LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM meta WHERE name = 'job_flow') THEN
    RETURN;
  END IF;
  INSERT INTO meta (name, value) VALUES ('job_flow', '1') ON CONFLICT (name) DO NOTHING;
  IF NOT FOUND THEN
    RETURN; -- another transaction made them, and has committed
  END IF;
  CREATE TRIGGER finished_jobs_settle_dependants AFTER INSERT ON finished_jobs
    FOR EACH ROW WHEN (NEW.has_dependants) EXECUTE FUNCTION settle_dependants();
  PERFORM make_jobs_flow_triggers();
END
$$;

SELECT make_jobs_flow_triggers() WHERE EXISTS (SELECT 1 FROM meta WHERE name = 'job_flow');
-- Held jobs now have job_flow rows, which only the triggers remove.
SELECT use_job_flow() WHERE EXISTS (SELECT 1 FROM job_flow) OR EXISTS (SELECT 1 FROM paused);

ANALYZE jobs;
