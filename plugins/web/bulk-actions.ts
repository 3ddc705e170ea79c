import { randomUUID } from 'node:crypto';
import type { Logger } from '../../src/index.ts';
import type { JobSearch, JobStore } from '../../src/store/job-store.ts';
import type { Identity } from './access.ts';

/** What one action does to a job. */
export type JobAction = 'retry' | 'cancel' | 'run-now' | 'delete';
export const JOB_ACTIONS: readonly JobAction[] = ['retry', 'cancel', 'run-now', 'delete'];

/** A bulk action's progress, as `GET /api/bulk/{id}` shows it. */
export interface BulkProgress {
  readonly id: string;
  readonly action: JobAction;
  readonly by: string;
  readonly state: 'running' | 'done';
  /** Jobs looked at so far. */
  readonly done: number;
  /** Jobs the action changed (retried, cancelled, made due, deleted). */
  readonly changed: number;
  /** Jobs it did not apply to (e.g. retry of a waiting job). */
  readonly skipped: number;
  /** The planned count when it started (capped), for a progress bar. */
  readonly expected: number;
  /** First few errors, as `job N: message`. */
  readonly errors: readonly string[];
  /** It stopped at web.bulkMax jobs. */
  readonly truncated: boolean;
}

/**
 * Does one action to one job through the store.
 * @returns whether the job changed.
 */
export async function applyAction(store: JobStore, action: JobAction, id: number): Promise<boolean> {
  const now = Date.now();
  switch (action) {
    case 'retry': return store.retry(id, now);
    case 'cancel': return (await store.cancel(id, now)) !== 'finished';
    case 'run-now': return store.runNow(id, now);
    case 'delete': return (await store.deleteJob(id)) === 'deleted';
  }
}

/**
 * Runs bulk actions in the background, in batches of `batch` jobs with a
 * turn of the event loop between them: the request that starts one answers
 * at once, pages and other requests go on, and each job is its own short
 * transaction, so workers are never held up behind a long one.
 */
export class BulkActions {
  readonly #store: JobStore;
  readonly #logger: Logger;
  readonly #batch: number;
  readonly #max: number;
  readonly #operations = new Map<string, BulkProgress>();

  constructor(store: JobStore, logger: Logger, options: { batch: number; max: number }) {
    this.#store = store;
    this.#logger = logger;
    this.#batch = options.batch;
    this.#max = options.max;
  }

  get(id: string): BulkProgress | undefined {
    return this.#operations.get(id);
  }

  /** Starts `action` on the jobs `ids`, or on every job matching `search` (newest first, up to web.bulkMax). */
  start(action: JobAction, target: { ids: readonly number[] } | { search: JobSearch; expected: number }, who: Identity): BulkProgress {
    const id = randomUUID();
    const expected = 'ids' in target ? target.ids.length : Math.min(target.expected, this.#max);
    let progress: BulkProgress = { id, action, by: who.name, state: 'running', done: 0, changed: 0, skipped: 0, expected, errors: [], truncated: false };
    this.#operations.set(id, progress);
    // Keep the last hundred operations' results for their pages; older ones are forgotten.
    if (this.#operations.size > 100) this.#operations.delete(this.#operations.keys().next().value ?? '');
    const update = (change: Partial<BulkProgress>): void => {
      progress = { ...progress, ...change };
      this.#operations.set(id, progress);
    };
    this.#logger.info({ web: { who: who.name, role: who.role, action, bulk: id, ...('ids' in target ? { ids: target.ids.length } : { search: target.search }) } }, `web: ${who.name} started bulk ${action}`);
    void (async () => {
      const batches = 'ids' in target ? this.#idBatches(target.ids) : this.#searchBatches(target.search, () => update({ truncated: true }));
      for await (const ids of batches) {
        let { done, changed, skipped } = progress;
        const errors = [...progress.errors];
        for (const jobId of ids) {
          try {
            if (await applyAction(this.#store, action, jobId)) changed++;
            else skipped++;
          } catch (error) {
            skipped++;
            if (errors.length < 10) errors.push(`job ${jobId}: ${error instanceof Error ? error.message : String(error)}`);
          }
          done++;
        }
        update({ done, changed, skipped, errors });
        await new Promise((resolve) => setImmediate(resolve));
      }
      update({ state: 'done' });
      this.#logger.info({ web: { who: who.name, action, bulk: id, changed: progress.changed, skipped: progress.skipped } }, `web: bulk ${action} by ${who.name} done`);
    })().catch((error: unknown) => {
      update({ state: 'done', errors: [...progress.errors, `stopped: ${error instanceof Error ? error.message : String(error)}`] });
    });
    return progress;
  }

  async *#idBatches(ids: readonly number[]): AsyncGenerator<readonly number[]> {
    for (let i = 0; i < ids.length; i += this.#batch) yield ids.slice(i, i + this.#batch);
  }

  /** The matching jobs' ids, a page at a time by keyset: a job the action moves is not met again. */
  async *#searchBatches(search: JobSearch, onTruncated: () => void): AsyncGenerator<readonly number[]> {
    let before: number | undefined;
    let total = 0;
    for (;;) {
      const limit = Math.min(this.#batch, this.#max - total);
      if (limit <= 0) {
        onTruncated();
        return;
      }
      const page = await this.#store.searchJobs(search, { limit, ...(before === undefined ? {} : { beforeId: before }) });
      if (page.jobs.length > 0) yield page.jobs.map((job) => job.id);
      total += page.jobs.length;
      if (page.next === null) return;
      before = page.next;
    }
  }
}
