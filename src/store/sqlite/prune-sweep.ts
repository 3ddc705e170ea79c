import type { PruneBudget, PruneCutoffs } from '../job-store.ts';
import type { Connection } from './connection.ts';

/** Job ids in one window of the sweep: a rowid range of 10,000 reads in about a millisecond. */
const PRUNE_WINDOW = 10_000;

/**
 * Deletes finished jobs past their retention by sweeping the table in
 * windows of job ids (see {@link JobStore.prune}), instead of keeping an
 * index on finish time that every completion would pay for (migration 0006).
 * Holds the sweep's position; one per store.
 */
export class PruneSweep {
  /** Where the next window starts, in job ids. */
  #cursor = 0;

  async run(conn: Connection, cutoffs: PruneCutoffs, budget: PruneBudget): Promise<number> {
    let deleted = 0;
    for (let windows = 0, batches = 0; windows < budget.windows && batches < budget.batches; ) {
      // Between steps, let claims and completions in.
      if (windows + batches > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const s = conn.statements();
      // The window starts at the first job past the cursor: ranges emptied by earlier pruning are skipped in one seek.
      const first = s.firstJobIdAfter.get(this.#cursor);
      if (first === undefined) {
        this.#cursor = 0;
        break;
      }
      const params = { ...cutoffs, after: first - 1, upTo: first - 1 + PRUNE_WINDOW, limit: budget.batch };
      // Read first: most windows hold nothing to delete, and a read takes no write lock.
      let found = 0;
      if (s.anyPrunable.get(params) !== undefined) {
        batches++;
        found = conn.transaction((t) => {
          t.pruneJobErrors.run(params);
          t.pruneJobNotes.run(params);
          t.pruneJobParents.run(params);
          t.pruneJobFlow.run(params);
          return t.pruneJobs.run(params).changes;
        });
        deleted += found;
      }
      // A full batch may have left more in this window: the next step looks at it again.
      if (found === budget.batch) continue;
      windows++;
      this.#cursor = params.upTo;
      if (params.upTo >= (s.maxJobId.get() ?? 0)) {
        this.#cursor = 0; // round the table at most once per call
        break;
      }
    }
    return deleted;
  }
}
