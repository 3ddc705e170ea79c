-- The row triggers of jobs that wait (0003) and of per-key concurrency (0004)
-- exist only once the schema uses either, as on SQLite (its TEMP triggers,
-- flow-triggers.ts). An AFTER row trigger costs every row it could fire for,
-- WHEN false or not: PostgreSQL fetches the row's old version again and checks
-- each trigger's WHEN. For a plain job claimed and completed that was 7.2k of
-- the server's ~228k instructions (valgrind on a private cluster), though no
-- trigger ever did anything for it.
--
-- use_job_flow() makes them, once: the add of a job with `after` or a
-- concurrency key calls it as the first statement of its transaction, before
-- the job exists, so every job that needs the triggers is committed after
-- them. CREATE TRIGGER waits for the transactions writing to jobs and
-- finished_jobs at that moment, and every writer after it sees the triggers.
-- The meta row decides which of two adds makes them: the second waits on the
-- first's uncommitted row, then finds it (ON CONFLICT) and leaves it at that.
-- Called first, it holds no lock on jobs while it waits: no deadlock between
-- two such adds.

CREATE FUNCTION use_job_flow() RETURNS void LANGUAGE plpgsql
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
  CREATE TRIGGER jobs_concurrency_started AFTER UPDATE OF state ON jobs
    FOR EACH ROW WHEN (NEW.concurrency_key IS NOT NULL AND NEW.state = 1 AND OLD.state <> 1)
    EXECUTE FUNCTION concurrency_started();
  CREATE TRIGGER jobs_concurrency_stopped AFTER UPDATE OF state ON jobs
    FOR EACH ROW WHEN (OLD.concurrency_key IS NOT NULL AND OLD.state = 1 AND NEW.state <> 1)
    EXECUTE FUNCTION concurrency_stopped();
  CREATE TRIGGER jobs_concurrency_ended AFTER DELETE ON jobs
    FOR EACH ROW WHEN (OLD.concurrency_key IS NOT NULL AND (OLD.state = 1 OR NOT OLD.parked))
    EXECUTE FUNCTION concurrency_stopped();
END
$$;

DROP TRIGGER finished_jobs_settle_dependants ON finished_jobs;
DROP TRIGGER jobs_concurrency_started ON jobs;
DROP TRIGGER jobs_concurrency_stopped ON jobs;
DROP TRIGGER jobs_concurrency_ended ON jobs;

-- A schema that used either keeps them. Every keyed job made its key's row (never deleted), every job that waits
-- its job_parents rows (deleted with the job by pruning): a finished parent still marked is looked for too.
SELECT use_job_flow()
 WHERE EXISTS (SELECT 1 FROM concurrency_keys)
    OR EXISTS (SELECT 1 FROM job_parents)
    OR EXISTS (SELECT 1 FROM jobs WHERE has_dependants OR parents > 0 OR concurrency_key IS NOT NULL)
    OR EXISTS (SELECT 1 FROM finished_jobs WHERE has_dependants OR concurrency_key IS NOT NULL);
