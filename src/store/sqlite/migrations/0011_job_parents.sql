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
-- Triggers do the bookkeeping wherever a parent ends (an outcome, a cancel,
-- a dead worker's job failing, a dependant cancelled in turn), in the
-- transaction that ends it. They are TEMP triggers, made by each connection
-- once the file uses jobs that wait (meta 'job_flow'), not here: a trigger on
-- jobs is run for every row whose state changes, and cost a plain drain a
-- quarter of its speed (flow-triggers.ts).
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
