import type { AddedJob, NewJob } from '../job-store.ts';
import type { Connection } from './connection.ts';
import { insertAll, insertAny, needsTransaction } from './insert-jobs.ts';

/**
 * Single adds made in the same turn of the event loop (concurrent callers:
 * request handlers, `Promise.all`) share one transaction, since a commit
 * costs far more than a row, and go in 100 to a statement as addMany's do.
 * Each promise still resolves only once its job is committed; an add alone
 * commits alone.
 */
export class GroupedAdds {
  readonly #conn: Connection;
  #pending: PendingAdd[] = [];

  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** Resolves to the job's id once it is committed to the file at the path (see {@link Connection.write}). */
  add(job: NewJob): Promise<AddedJob> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ job, resolve, reject });
      if (this.#pending.length === 1) queueMicrotask(() => this.#commit());
    });
  }

  #commit(): void {
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 1) {
      this.#commitAlone(batch[0]!);
      return;
    }
    let added: { ids: number[]; database: string };
    try {
      added = this.#conn.write((s, database) => ({ ids: insertAll(s, batch.map(({ job }) => job), database), database }), { transaction: true, onReplaced: 'again' });
    } catch {
      // The shared transaction rolled back: no caller's add may fail for another's bad job, so each goes alone.
      for (const add of batch) this.#commitAlone(add);
      return;
    }
    const { ids, database } = added;
    batch.forEach(({ resolve }, i) => resolve({ id: ids[i]!, database }));
    this.#conn.changedHere('work');
  }

  #commitAlone({ job, resolve, reject }: PendingAdd): void {
    try {
      // A keyed insert is a check and an insert, a job with parents an insert and its links: each needs a transaction; a plain one is a statement alone.
      resolve(this.#conn.write((s, database) => ({ id: insertAny(s, job, database), database }), { transaction: needsTransaction(job), onReplaced: 'again' }));
      this.#conn.changedHere('work');
    } catch (error) {
      reject(error);
    }
  }
}

/** An add waiting for its commit. */
interface PendingAdd {
  readonly job: NewJob;
  readonly resolve: (added: AddedJob) => void;
  readonly reject: (error: unknown) => void;
}
