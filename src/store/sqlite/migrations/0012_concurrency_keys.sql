-- Per-key concurrency (issue 18; JobCenter's locks): at most
-- concurrency_limit jobs with one concurrency_key run at once, across every
-- worker on the database.
--
-- concurrency_keys.running counts the key's running jobs; triggers keep it
-- (TEMP triggers, as for 0011: flow-triggers.ts), wherever a job starts or stops running (a claim, an outcome, a
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
-- Neither index names `state`: an index whose columns or WHERE do is checked on every claim and outcome.
CREATE INDEX jobs_concurrency_waiting ON jobs (concurrency_key) WHERE concurrency_key IS NOT NULL;
CREATE INDEX jobs_concurrency_parked ON jobs (concurrency_key, priority DESC, ready_at, id) WHERE parked = 1;
