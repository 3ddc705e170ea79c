-- Jobs that wait for other jobs (issue 18): `after` at add time names the
-- jobs (parents) a job runs after. Any number of parents; a job can only
-- name jobs that exist when it is added (or earlier entries of the same
-- addJobs call), so a cycle cannot be made.
--
-- While a job waits for parents, its run_at is held at 9007199254740991
-- (Number.MAX_SAFE_INTEGER: never due) and the run time asked for is kept in
-- ready_at. The claim, its index and its cost are unchanged: a job that
-- waits is simply not due. waiting_for counts the parents that have not yet
-- ended the way it waits for; the trigger that takes the last one away makes
-- it due (run_at = the later of ready_at and the parent's finish).
--
-- The triggers below do the bookkeeping wherever a parent ends (an outcome,
-- a cancel, a dead worker's job failing, a dependant cancelled in turn), in
-- the transaction that ends it. They fire only for rows marked
-- has_dependants: a job nobody waits for pays one comparison. A parent that
-- ends failed or cancelled cancels its waiting dependants, naming itself
-- (cancelled_by), and those cancel theirs: the store sets recursive_triggers
-- on every connection. A dependant with on_parent_failure = 1 runs anyway.
--
-- New columns come last (ALTER TABLE ADD COLUMN): the claim reads `parents`
-- only, from rows it reads anyway.

ALTER TABLE jobs ADD COLUMN parents INTEGER NOT NULL DEFAULT 0;          -- how many jobs it runs after
ALTER TABLE jobs ADD COLUMN waiting_for INTEGER NOT NULL DEFAULT 0;      -- of those, how many it still waits for
ALTER TABLE jobs ADD COLUMN ready_at INTEGER;                            -- the run time asked for, while it waits
ALTER TABLE jobs ADD COLUMN on_parent_failure INTEGER NOT NULL DEFAULT 0; -- 0: end cancelled; 1: run anyway
ALTER TABLE jobs ADD COLUMN has_dependants INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cancelled_by INTEGER;                        -- the parent whose failure cancelled it

CREATE TABLE job_parents (
  job_id    INTEGER NOT NULL,
  position  INTEGER NOT NULL, -- in the order of `after`
  parent_id INTEGER NOT NULL,
  PRIMARY KEY (job_id, position)
) WITHOUT ROWID;
CREATE INDEX job_parents_parent ON job_parents (parent_id, job_id);
CREATE INDEX jobs_cancelled_by ON jobs (cancelled_by) WHERE cancelled_by IS NOT NULL;

CREATE TRIGGER jobs_parent_succeeded AFTER UPDATE OF state ON jobs
  WHEN NEW.has_dependants = 1 AND NEW.state = 2 AND OLD.state <> 2
BEGIN
  UPDATE jobs
     SET waiting_for = waiting_for - 1,
         run_at = CASE WHEN waiting_for = 1 THEN max(ready_at, NEW.finished_at) ELSE run_at END
   WHERE id IN (SELECT job_id FROM job_parents WHERE parent_id = NEW.id) AND state = 0 AND waiting_for > 0;
END;

CREATE TRIGGER jobs_parent_failed AFTER UPDATE OF state ON jobs
  WHEN NEW.has_dependants = 1 AND NEW.state IN (3, 4) AND OLD.state NOT IN (3, 4)
BEGIN
  UPDATE jobs
     SET waiting_for = waiting_for - 1,
         run_at = CASE WHEN waiting_for = 1 THEN max(ready_at, NEW.finished_at) ELSE run_at END
   WHERE id IN (SELECT job_id FROM job_parents WHERE parent_id = NEW.id) AND state = 0 AND waiting_for > 0
     AND on_parent_failure = 1;
  UPDATE jobs
     SET state = 4, finished_at = NEW.finished_at, cancelled_by = NEW.id,
         error = json_object('name', 'ParentFailedError',
                             'message', 'job ' || NEW.id || ', which this job runs after, ended '
                                        || CASE NEW.state WHEN 3 THEN 'failed' ELSE 'cancelled' END)
   WHERE id IN (SELECT job_id FROM job_parents WHERE parent_id = NEW.id) AND state = 0 AND waiting_for > 0
     AND on_parent_failure = 0;
END;
