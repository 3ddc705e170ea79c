import type { Database, Statement } from 'better-sqlite3';

/*
 * The bookkeeping of jobs that wait for other jobs (migration 0011) and of
 * per-key concurrency (0012), as TEMP triggers on `jobs`: made by a
 * connection only once its file uses either (meta 'job_flow'), because
 * SQLite runs every trigger on a table for every row whose state changes
 * (its WHEN is checked inside): five of them cost a plain drain 28% of its
 * speed (167k → 120k jobs/s, scratch measurement). A file that never used
 * these pays one flag read per write transaction.
 *
 * Every connection checks the flag inside each write transaction, before
 * the transaction's first state change: the process that sets it (adding
 * the first such job) commits it with that job, so any transaction that can
 * see the job sees the flag and makes the triggers first. A transaction
 * that rolls back takes the triggers it made with it, and the next one
 * makes them again.
 */

/** Marks the file as using jobs that wait or concurrency keys: every connection makes the triggers. */
const MARK = `INSERT INTO meta (name, value) VALUES ('job_flow', '1') ON CONFLICT DO NOTHING`;

const TRIGGERS = `
CREATE TEMP TRIGGER IF NOT EXISTS jobs_parent_succeeded AFTER UPDATE OF state ON main.jobs
  WHEN NEW.has_dependants = 1 AND NEW.state = 2 AND OLD.state <> 2
BEGIN
  UPDATE jobs
     SET waiting_for = waiting_for - 1,
         run_at = CASE WHEN waiting_for = 1 THEN max(ready_at, NEW.finished_at) ELSE run_at END
   WHERE id IN (SELECT job_id FROM job_parents WHERE parent_id = NEW.id) AND state = 0 AND waiting_for > 0;
END;

CREATE TEMP TRIGGER IF NOT EXISTS jobs_parent_failed AFTER UPDATE OF state ON main.jobs
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

CREATE TEMP TRIGGER IF NOT EXISTS jobs_concurrency_started AFTER UPDATE OF state ON main.jobs
  WHEN NEW.concurrency_key IS NOT NULL AND NEW.state = 1 AND OLD.state <> 1
BEGIN
  INSERT INTO concurrency_keys (key, running) VALUES (NEW.concurrency_key, 1)
    ON CONFLICT (key) DO UPDATE SET running = running + 1;
END;

-- A slot freed: the key's oldest parked jobs, as many as it now has room for (at least one), are due again.
CREATE TEMP TRIGGER IF NOT EXISTS jobs_concurrency_stopped AFTER UPDATE OF state ON main.jobs
  WHEN OLD.concurrency_key IS NOT NULL AND OLD.state = 1 AND NEW.state <> 1
BEGIN
  UPDATE concurrency_keys SET running = max(running - 1, 0) WHERE key = OLD.concurrency_key;
  UPDATE jobs SET parked = 0, run_at = ready_at
   WHERE id IN (SELECT id FROM jobs WHERE parked = 1 AND state = 0 AND concurrency_key = OLD.concurrency_key
                 ORDER BY priority DESC, ready_at, id
                 LIMIT max(1, OLD.concurrency_limit - (SELECT running FROM concurrency_keys WHERE key = OLD.concurrency_key)));
END;

-- A due job of the key ended without running (cancelled): one it may have been let through for comes next.
CREATE TEMP TRIGGER IF NOT EXISTS jobs_concurrency_dropped AFTER UPDATE OF state ON main.jobs
  WHEN OLD.concurrency_key IS NOT NULL AND OLD.state = 0 AND OLD.parked = 0 AND NEW.state > 1
BEGIN
  UPDATE jobs SET parked = 0, run_at = ready_at
   WHERE id = (SELECT id FROM jobs WHERE parked = 1 AND state = 0 AND concurrency_key = OLD.concurrency_key
                ORDER BY priority DESC, ready_at, id LIMIT 1);
END;
`;

/** The flag and trigger statements of one connection. */
export class FlowTriggers {
  readonly #db: Database;
  readonly #flag: Statement<[], number>;
  readonly #made: Statement<[], number>;
  readonly #mark: Statement;

  constructor(db: Database) {
    this.#db = db;
    this.#flag = db.prepare<[], number>(`SELECT 1 FROM meta WHERE name = 'job_flow'`).pluck();
    this.#made = db.prepare<[], number>(`SELECT 1 FROM sqlite_temp_master WHERE type = 'trigger' AND name = 'jobs_concurrency_dropped'`).pluck();
    this.#mark = db.prepare(MARK);
  }

  /** Inside a write transaction: makes the triggers if the file uses them and this connection has not. */
  ensure(): void {
    if (this.#flag.get() === undefined || this.#made.get() !== undefined) return;
    this.#db.exec(TRIGGERS);
  }

  /** Inside the transaction adding the first job that waits for others or has a concurrency key. */
  use(): void {
    this.#mark.run();
    this.ensure();
  }
}
