import type { Database, Statement } from 'better-sqlite3';

/*
 * The bookkeeping of jobs that wait for other jobs (migration 0011) and of
 * per-key concurrency (0012), as TEMP triggers: made by a connection only
 * once its file uses either (meta 'job_flow'), because SQLite runs every
 * trigger on a table for every row whose state changes (its WHEN is checked
 * inside the trigger's program, whose registers are set up first): five of
 * them on `jobs` cost a plain drain 28% of its speed (167k → 120k jobs/s,
 * scratch measurement). A file that never used these pays one flag read per
 * write transaction.
 *
 * Every connection checks the flag inside each write transaction, before
 * the transaction's first state change: the process that sets it (adding
 * the first such job) commits it with that job, so any transaction that can
 * see the job sees the flag and makes the triggers first. A transaction
 * that rolls back takes the triggers it made with it, and the next one
 * makes them again.
 *
 * What they keep is in job_flow (migration 0017), and so are they: one small
 * trigger on `jobs` copies a flagged job's state change to its job_flow row
 * (from_state, to_state), and the five that do the work are on job_flow,
 * run by that copy. A plain job's state change runs the one small trigger,
 * whose WHEN is false, and never reads job_flow (its claim and outcome in
 * such a file: 48.9k instructions in sqlite3_step, against 54.9k with the
 * five on `jobs` reading job_flow, and 30.5k with no trigger; callgrind,
 * 10,000 jobs in batches of 100). A change to both tables is
 * two statements picking the same jobs, `jobs` first where the job_flow
 * change would move what picks them (a count, a parked flag). The joins
 * name job_flow first (CROSS JOIN keeps the order).
 */

/** Marks the file as using jobs that wait or concurrency keys: every connection makes the triggers. */
const MARK = `INSERT INTO meta (name, value) VALUES ('job_flow', '1') ON CONFLICT DO NOTHING`;

/** The dependants of NEW (the job_flow row of a parent that just ended) that still wait for parents: more conditions may follow. */
const WAITING_DEPENDANTS = `SELECT f.job_id FROM job_parents p CROSS JOIN job_flow f ON f.job_id = p.job_id
                 WHERE p.parent_id = NEW.job_id AND f.waiting_for > 0`;

/** When NEW's job ended. */
const FINISHED_AT = '(SELECT finished_at FROM jobs WHERE jobs.id = NEW.job_id)';

/** The parked jobs of NEW's key in claim order (job_flow_parked), waiting ones only: the next ones out. */
const NEXT_PARKED = `SELECT f.job_id FROM job_flow f CROSS JOIN jobs j ON j.id = f.job_id
                 WHERE f.parked = 1 AND f.concurrency_key = NEW.concurrency_key AND j.state = 0
                 ORDER BY f.priority DESC, f.ready_at, f.job_id`;

/** As many as NEW's key has room for now, at least one. */
const ROOM = 'max(1, NEW.concurrency_limit - (SELECT running FROM concurrency_keys WHERE key = NEW.concurrency_key))';

/** Of dependants picked by `picked` (ids), those still waiting: the last parent out makes them due, then the count moves. */
const parentEnded = (picked: string): string => `
  UPDATE jobs SET run_at = max((SELECT ready_at FROM job_flow WHERE job_flow.job_id = jobs.id), ${FINISHED_AT})
   WHERE id IN (${picked} AND f.waiting_for = 1) AND state = 0;
  UPDATE job_flow SET waiting_for = waiting_for - 1
   WHERE job_id IN (${picked}) AND (SELECT state FROM jobs WHERE jobs.id = job_flow.job_id) = 0;`;

const TRIGGERS = `
-- The dependants a failed parent is cancelling, with the parent: see flow_parent_failed. Empty between statements.
CREATE TEMP TABLE IF NOT EXISTS flow_cancelling (
  job_id INTEGER NOT NULL,
  parent INTEGER NOT NULL,
  PRIMARY KEY (job_id, parent)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS temp.flow_cancelling_parent ON flow_cancelling (parent);

-- Not for a job flow_parent_failed is cancelling: it copies the change itself.
CREATE TEMP TRIGGER IF NOT EXISTS jobs_flow_state AFTER UPDATE OF state ON main.jobs
  WHEN NEW.flow = 1 AND NEW.state <> OLD.state AND NOT EXISTS (SELECT 1 FROM temp.flow_cancelling WHERE job_id = NEW.id)
BEGIN
  UPDATE job_flow SET from_state = OLD.state, to_state = NEW.state WHERE job_id = NEW.id;
END;

CREATE TEMP TRIGGER IF NOT EXISTS flow_parent_succeeded AFTER UPDATE OF to_state ON main.job_flow
  WHEN NEW.has_dependants = 1 AND NEW.to_state = 2 AND NEW.from_state <> 2
BEGIN
  ${parentEnded(WAITING_DEPENDANTS)}
END;

CREATE TEMP TRIGGER IF NOT EXISTS flow_parent_failed AFTER UPDATE OF to_state ON main.job_flow
  WHEN NEW.has_dependants = 1 AND NEW.to_state IN (3, 4) AND NEW.from_state NOT IN (3, 4)
BEGIN
  ${parentEnded(`${WAITING_DEPENDANTS} AND f.on_parent_failure = 1`)}
  -- The others end cancelled, naming this parent, and their triggers run in turn (for theirs). Picked once, before
  -- any is cancelled: a dependant of this parent and of a sibling ends as this parent's, as before 0017 (one UPDATE
  -- that cancelled the picked jobs, each overwritten if a sibling's cancel got to it first). Their state change is
  -- copied to job_flow here, not by jobs_flow_state: a cascade takes one trigger level per generation, as before
  -- (SQLite stops at 1,000).
  INSERT INTO flow_cancelling (job_id, parent)
  SELECT job_id, NEW.job_id FROM (${WAITING_DEPENDANTS} AND f.on_parent_failure = 0 AND (SELECT state FROM jobs WHERE jobs.id = f.job_id) = 0);
  UPDATE jobs
     SET state = 4, finished_at = ${FINISHED_AT},
         error = json_object('name', 'ParentFailedError',
                             'message', 'job ' || NEW.job_id || ', which this job runs after, ended '
                                        || CASE NEW.to_state WHEN 3 THEN 'failed' ELSE 'cancelled' END)
   WHERE id IN (SELECT job_id FROM flow_cancelling WHERE parent = NEW.job_id);
  UPDATE job_flow SET cancelled_by = NEW.job_id, from_state = 0, to_state = 4
   WHERE job_id IN (SELECT job_id FROM flow_cancelling WHERE parent = NEW.job_id);
  DELETE FROM flow_cancelling WHERE parent = NEW.job_id;
END;

CREATE TEMP TRIGGER IF NOT EXISTS flow_concurrency_started AFTER UPDATE OF to_state ON main.job_flow
  WHEN NEW.concurrency_key IS NOT NULL AND NEW.to_state = 1 AND NEW.from_state <> 1
BEGIN
  INSERT INTO concurrency_keys (key, running) VALUES (NEW.concurrency_key, 1)
    ON CONFLICT (key) DO UPDATE SET running = running + 1;
END;

-- A slot freed: the key's oldest parked jobs, as many as it now has room for (at least one), are due again.
CREATE TEMP TRIGGER IF NOT EXISTS flow_concurrency_stopped AFTER UPDATE OF to_state ON main.job_flow
  WHEN NEW.concurrency_key IS NOT NULL AND NEW.from_state = 1 AND NEW.to_state <> 1
BEGIN
  UPDATE concurrency_keys SET running = max(running - 1, 0) WHERE key = NEW.concurrency_key;
  UPDATE jobs SET run_at = (SELECT ready_at FROM job_flow WHERE job_flow.job_id = jobs.id) WHERE id IN (${NEXT_PARKED} LIMIT ${ROOM});
  UPDATE job_flow SET parked = 0 WHERE job_id IN (${NEXT_PARKED} LIMIT ${ROOM});
END;

-- A due job of the key ended without running (cancelled): one it may have been let through for comes next.
CREATE TEMP TRIGGER IF NOT EXISTS flow_concurrency_dropped AFTER UPDATE OF to_state ON main.job_flow
  WHEN NEW.concurrency_key IS NOT NULL AND NEW.from_state = 0 AND NEW.parked = 0 AND NEW.to_state > 1
BEGIN
  UPDATE jobs SET run_at = (SELECT ready_at FROM job_flow WHERE job_flow.job_id = jobs.id) WHERE id = (${NEXT_PARKED} LIMIT 1);
  UPDATE job_flow SET parked = 0 WHERE job_id = (${NEXT_PARKED} LIMIT 1);
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
    this.#made = db.prepare<[], number>(`SELECT 1 FROM sqlite_temp_master WHERE type = 'trigger' AND name = 'flow_concurrency_dropped'`).pluck();
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
