-- Jobs that wait for other jobs (issue 18), as on SQLite (its migration
-- 0011 says why this shape): `after` names parents; while a job waits for
-- any, its run_at is held at 9007199254740991 (never due) and the run time
-- asked for is kept in ready_at, so the claim and its index are unchanged.
--
-- A parent ends by moving to finished_jobs; the trigger on that insert does
-- the bookkeeping wherever it ends (an outcome, a cancel, a dead worker's
-- job failing), in the same transaction, and only for rows marked
-- has_dependants. A parent that ends failed or cancelled moves its waiting
-- dependants to finished_jobs as cancelled, naming itself (cancelled_by):
-- that insert fires the trigger again, so it is transitive. A job made due
-- is announced on the store's channel (notifications.ts: `<schema>_changes`),
-- so workers that sleep wake up.

ALTER TABLE jobs
  ADD COLUMN parents           integer NOT NULL DEFAULT 0,
  ADD COLUMN waiting_for       integer NOT NULL DEFAULT 0,
  ADD COLUMN ready_at          bigint,
  ADD COLUMN on_parent_failure boolean NOT NULL DEFAULT false,
  ADD COLUMN has_dependants    boolean NOT NULL DEFAULT false;

ALTER TABLE finished_jobs
  ADD COLUMN parents           integer NOT NULL DEFAULT 0,
  ADD COLUMN ready_at          bigint,
  ADD COLUMN on_parent_failure boolean NOT NULL DEFAULT false,
  ADD COLUMN has_dependants    boolean NOT NULL DEFAULT false,
  ADD COLUMN cancelled_by      bigint;

CREATE TABLE job_parents (
  job_id    bigint  NOT NULL,
  position  integer NOT NULL, -- in the order of `after`
  parent_id bigint  NOT NULL,
  PRIMARY KEY (job_id, position)
);
CREATE INDEX job_parents_parent ON job_parents (parent_id, job_id);
CREATE INDEX finished_jobs_cancelled_by ON finished_jobs (cancelled_by) WHERE cancelled_by IS NOT NULL;

CREATE FUNCTION settle_dependants() RETURNS trigger LANGUAGE plpgsql
  -- The store's schema, as migrate.ts sets it for this file: the store's own statements name it, not search_path.
  SET search_path FROM CURRENT
AS $$
DECLARE
  released integer := 0;
  now_ms bigint := NEW.finished_at;
BEGIN
  UPDATE jobs
     SET waiting_for = waiting_for - 1,
         run_at = CASE WHEN waiting_for = 1 THEN greatest(ready_at, now_ms) ELSE run_at END
   WHERE id IN (SELECT job_id FROM job_parents WHERE parent_id = NEW.id) AND state = 0 AND waiting_for > 0
     AND (NEW.state = 2 OR on_parent_failure);
  GET DIAGNOSTICS released = ROW_COUNT;
  IF NEW.state <> 2 THEN
    -- The column list follows archive-jobs.ts (FINISHED_COLUMNS).
    WITH cancelled AS (
      DELETE FROM jobs
       WHERE id IN (SELECT job_id FROM job_parents WHERE parent_id = NEW.id) AND state = 0 AND waiting_for > 0
         AND NOT on_parent_failure
      RETURNING *
    )
    INSERT INTO finished_jobs (id, state, priority, run_at, attempts, max_attempts, timeout_ms, isolated, service, method, params,
                               recurring_id, fire_time, key, tags, created_at, started_at, finished_at, result, error,
                               progress_current, progress_total, progress_at, parents, ready_at, on_parent_failure, has_dependants,
                               cancelled_by)
    SELECT id, 4, priority, run_at, attempts, max_attempts, timeout_ms, isolated, service, method, params,
           recurring_id, fire_time, key, tags, created_at, started_at, now_ms, NULL,
           json_build_object('name', 'ParentFailedError',
                             'message', 'job ' || NEW.id || ', which this job runs after, ended '
                                        || CASE NEW.state WHEN 3 THEN 'failed' ELSE 'cancelled' END)::text,
           progress_current, progress_total, progress_at, parents, ready_at, on_parent_failure, has_dependants, NEW.id
      FROM cancelled;
  END IF;
  IF released > 0 THEN
    PERFORM pg_notify(left(TG_TABLE_SCHEMA || '_changes', 63), 'dependants:work');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER finished_jobs_settle_dependants AFTER INSERT ON finished_jobs
  FOR EACH ROW WHEN (NEW.has_dependants) EXECUTE FUNCTION settle_dependants();
