-- Per-key concurrency (issue 18; JobCenter's locks), as on SQLite (its
-- migration 0012 says why this shape): at most concurrency_limit jobs with
-- one concurrency_key run at once, across every worker and host.
--
-- concurrency_keys has a row per key (made when a job with the key is
-- added), which the claim locks (FOR UPDATE, in key order) before it counts:
-- two claims on different hosts cannot both take the key's last slot.
-- `running` is kept by the triggers below wherever a job starts or stops
-- running: a claim, an outcome (the job leaves `jobs`), a retry's wait, a
-- dead worker's job taken back. A due job whose key is full is parked
-- (run_at held at never-due, its run time in ready_at): out of every claim's
-- way. When a slot frees, the oldest parked jobs it makes room for are due
-- again, and workers are told (NOTIFY).

ALTER TABLE jobs
  ADD COLUMN concurrency_key   text,
  ADD COLUMN concurrency_limit integer,
  ADD COLUMN parked            boolean NOT NULL DEFAULT false;

ALTER TABLE finished_jobs
  ADD COLUMN concurrency_key   text,
  ADD COLUMN concurrency_limit integer;

CREATE TABLE concurrency_keys (
  key     text    PRIMARY KEY,
  running integer NOT NULL DEFAULT 0
);

CREATE INDEX jobs_concurrency_waiting ON jobs (concurrency_key) WHERE state = 0 AND NOT parked AND concurrency_key IS NOT NULL;
CREATE INDEX jobs_concurrency_parked ON jobs (concurrency_key, priority DESC, ready_at, id) WHERE parked;

CREATE FUNCTION concurrency_started() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  UPDATE concurrency_keys SET running = running + 1 WHERE key = NEW.concurrency_key;
  RETURN NULL;
END
$$;

-- A running job of the key stopped (UPDATE to waiting, or DELETE: it finished), or a due one went without running
-- (DELETE of a waiting, unparked job: cancelled): the oldest parked jobs there is now room for are due again.
CREATE FUNCTION concurrency_stopped() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  room integer := 1;
  released integer := 0;
BEGIN
  IF OLD.state = 1 THEN
    UPDATE concurrency_keys SET running = greatest(running - 1, 0) WHERE key = OLD.concurrency_key
      RETURNING greatest(1, coalesce(OLD.concurrency_limit, 1) - running) INTO room;
    room := coalesce(room, 1); -- no row (it is made with the key's first job): one, never LIMIT NULL (all)
  END IF;
  UPDATE jobs SET parked = false, run_at = ready_at
   WHERE id IN (SELECT id FROM jobs WHERE parked AND state = 0 AND concurrency_key = OLD.concurrency_key
                 ORDER BY priority DESC, ready_at, id LIMIT room FOR UPDATE SKIP LOCKED);
  GET DIAGNOSTICS released = ROW_COUNT;
  IF released > 0 THEN
    PERFORM pg_notify(left(TG_TABLE_SCHEMA || '_changes', 63), 'concurrency:work');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER jobs_concurrency_started AFTER UPDATE OF state ON jobs
  FOR EACH ROW WHEN (NEW.concurrency_key IS NOT NULL AND NEW.state = 1 AND OLD.state <> 1)
  EXECUTE FUNCTION concurrency_started();
CREATE TRIGGER jobs_concurrency_stopped AFTER UPDATE OF state ON jobs
  FOR EACH ROW WHEN (OLD.concurrency_key IS NOT NULL AND OLD.state = 1 AND NEW.state <> 1)
  EXECUTE FUNCTION concurrency_stopped();
CREATE TRIGGER jobs_concurrency_ended AFTER DELETE ON jobs
  FOR EACH ROW WHEN (OLD.concurrency_key IS NOT NULL AND (OLD.state = 1 OR NOT OLD.parked))
  EXECUTE FUNCTION concurrency_stopped();
