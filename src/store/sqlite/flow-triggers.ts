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
 * What they keep is in job_flow (migration 0017), and so are they: the
 * store copies a flagged job's state change to its job_flow row (from_state,
 * to_state) right after the statement that made it ({@link FlowTriggers.changed}),
 * and the five triggers that do the work run on that copy. Not a trigger on
 * `jobs`: SQLite updates a table with any trigger row by row (no one-pass
 * update) and runs the trigger's program for every row before its WHEN, so
 * the one small trigger that used to copy the change cost a plain job's
 * claim and outcome 48.9k instructions in sqlite3_step, against 30.5k with
 * no trigger (callgrind, 10,000 jobs in batches of 100,
 * `bench/claim-cost.ts sqlite 10000 [add] flow`). A change to both tables is
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
  -- copied to job_flow here, as the store copies its own statements' (FlowTriggers.changed): a cascade takes one
  -- trigger level per generation, as before (SQLite stops at 1,000).
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
  /** The copy for so many ids, prepared on first use: at most a claim's or an outcome batch's size (256), a few in practice. */
  readonly #copies = new Map<number, Statement<number[]>>();
  readonly #anyBetween: Statement<[number, number], number>;
  /** Whether the file uses the triggers, as the current write transaction found it (see {@link ensure}). */
  #inUse = false;

  constructor(db: Database) {
    this.#db = db;
    this.#flag = db.prepare<[], number>(`SELECT 1 FROM meta WHERE name = 'job_flow'`).pluck();
    this.#made = db.prepare<[], number>(`SELECT 1 FROM sqlite_temp_master WHERE type = 'trigger' AND name = 'flow_concurrency_dropped'`).pluck();
    this.#mark = db.prepare(MARK);
    this.#anyBetween = db.prepare<[number, number], number>('SELECT 1 FROM job_flow WHERE job_id BETWEEN ? AND ? LIMIT 1').pluck();
  }

  /**
   * At the start of every write transaction (BEGIN IMMEDIATE: no other
   * connection can set the flag until it ends): makes the triggers if the
   * file uses them and this connection has not.
   */
  ensure(): void {
    this.#inUse = this.#flag.get() !== undefined;
    if (!this.#inUse || this.#made.get() !== undefined) return;
    this.#db.exec(TRIGGERS);
  }

  /** Inside the transaction adding the first job that waits for others or has a concurrency key. */
  use(): void {
    this.#mark.run();
    this.ensure();
  }

  /** Whether the file uses the triggers: what {@link changed} needs to be told about. */
  get inUse(): boolean {
    return this.#inUse;
  }

  /**
   * Inside a write transaction, right after a statement moved jobs `ids`
   * out of state `from` (exactly those it changed: a fenced statement's
   * refused ones are left out, or their change would be copied twice):
   * copies each change to the job's job_flow row, which runs the triggers.
   * Nothing in a file that does not use them. Called where a trigger acts:
   * a claim, an outcome, a job given back or taken from a dead worker, a
   * waiting job cancelled. Not for a change back to waiting (a retry, a
   * dependant brought back), on which none acts, nor for a job cancelled at
   * its add because a parent had failed: nothing runs after it yet, and it
   * never held a slot.
   */
  changed(from: number, ids: readonly number[]): void {
    if (!this.#inUse || ids.length === 0) return;
    if (ids.length > 1) {
      // One seek tells a batch of plain jobs (ids close together, as a claim takes them) from one with flagged jobs.
      let low = ids[0]!;
      let high = low;
      for (const id of ids) {
        if (id < low) low = id;
        if (id > high) high = id;
      }
      if (this.#anyBetween.get(low, high) === undefined) return;
    }
    let copy = this.#copies.get(ids.length);
    if (copy === undefined) {
      // Jobs without a job_flow row (plain ones) find no row. Ids bound one by one: through json_each, a plain job's
      // outcome cost 0.7k instructions more (callgrind, bench/claim-cost.ts sqlite 10000 flow).
      copy = this.#db.prepare<number[]>(`
        UPDATE job_flow SET from_state = ?, to_state = (SELECT state FROM jobs WHERE jobs.id = job_flow.job_id)
         WHERE job_id IN (${ids.map(() => '?').join(', ')})`);
      this.#copies.set(ids.length, copy);
    }
    copy.run(from, ...ids);
  }
}
