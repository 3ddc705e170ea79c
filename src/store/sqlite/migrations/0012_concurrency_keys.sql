-- Per-key concurrency (issue 18; JobCenter's locks): at most
-- concurrency_limit jobs with one concurrency_key run at once, across every
-- worker on the database.
--
-- concurrency_keys.running counts the key's running jobs; the triggers below
-- keep it, wherever a job starts or stops running (a claim, an outcome, a
-- retry's wait, a dead worker's job taken back), so a crashed worker's slot
-- comes back with its job. The claim (claim-jobs.ts) starts a keyed job only
-- while its key has room, under the write lock.
--
-- A due job whose key is full is parked: run_at held at the never-due
-- 9007199254740991 and its run time kept in ready_at, as for jobs waiting for
-- parents (0011). So thousands of jobs behind one key cost the claim of other
-- jobs nothing: they are not due. When a running job of the key stops, the
-- oldest parked one (claim order) is made due again.

ALTER TABLE jobs ADD COLUMN concurrency_key TEXT;
ALTER TABLE jobs ADD COLUMN concurrency_limit INTEGER;
ALTER TABLE jobs ADD COLUMN parked INTEGER NOT NULL DEFAULT 0;

CREATE TABLE concurrency_keys (
  key     TEXT PRIMARY KEY,
  running INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Parking a key's due jobs, and finding its next parked one.
CREATE INDEX jobs_concurrency_waiting ON jobs (concurrency_key) WHERE state = 0 AND parked = 0 AND concurrency_key IS NOT NULL;
CREATE INDEX jobs_concurrency_parked ON jobs (concurrency_key, priority DESC, ready_at, id) WHERE parked = 1;

CREATE TRIGGER jobs_concurrency_started AFTER UPDATE OF state ON jobs
  WHEN NEW.concurrency_key IS NOT NULL AND NEW.state = 1 AND OLD.state <> 1
BEGIN
  INSERT INTO concurrency_keys (key, running) VALUES (NEW.concurrency_key, 1)
    ON CONFLICT (key) DO UPDATE SET running = running + 1;
END;

-- A slot freed: the key's oldest parked jobs, as many as it now has room for (at least one), are due again.
CREATE TRIGGER jobs_concurrency_stopped AFTER UPDATE OF state ON jobs
  WHEN OLD.concurrency_key IS NOT NULL AND OLD.state = 1 AND NEW.state <> 1
BEGIN
  UPDATE concurrency_keys SET running = max(running - 1, 0) WHERE key = OLD.concurrency_key;
  UPDATE jobs SET parked = 0, run_at = ready_at
   WHERE id IN (SELECT id FROM jobs WHERE parked = 1 AND state = 0 AND concurrency_key = OLD.concurrency_key
                 ORDER BY priority DESC, ready_at, id
                 LIMIT max(1, OLD.concurrency_limit - (SELECT running FROM concurrency_keys WHERE key = OLD.concurrency_key)));
END;

-- A due job of the key ended without running (cancelled): one it may have been let through for comes next.
CREATE TRIGGER jobs_concurrency_dropped AFTER UPDATE OF state ON jobs
  WHEN OLD.concurrency_key IS NOT NULL AND OLD.state = 0 AND OLD.parked = 0 AND NEW.state > 1
BEGIN
  UPDATE jobs SET parked = 0, run_at = ready_at
   WHERE id = (SELECT id FROM jobs WHERE parked = 1 AND state = 0 AND concurrency_key = OLD.concurrency_key
                ORDER BY priority DESC, ready_at, id LIMIT 1);
END;
