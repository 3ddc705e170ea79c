import type { NewJob } from '../job-store.ts';
import type { Connection } from './connection.ts';
import { insertAll, insertAny, isKeyed } from './insert-jobs.ts';

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

  /** Resolves to the job's id once it is committed. */
  add(job: NewJob): Promise<number> {
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
    let ids: number[];
    try {
      ids = this.#conn.transaction((s) => insertAll(s, batch.map(({ job }) => job)));
    } catch {
      // The shared transaction rolled back: no caller's add may fail for another's bad job, so each goes alone.
      for (const add of batch) this.#commitAlone(add);
      return;
    }
    batch.forEach(({ resolve }, i) => resolve(ids[i]!));
    this.#conn.changedHere('work');
  }

  #commitAlone({ job, resolve, reject }: PendingAdd): void {
    try {
      // A keyed insert is a check and an insert: it needs a transaction; a plain one is a statement alone.
      if (isKeyed(job)) {
        resolve(this.#conn.transaction((s) => insertAny(s, job)));
      } else {
        resolve(insertAny(this.#conn.statements(), job));
      }
      this.#conn.changedHere('work');
    } catch (error) {
      reject(error);
    }
  }
}

/** An add waiting for its commit. */
interface PendingAdd {
  readonly job: NewJob;
  readonly resolve: (id: number) => void;
  readonly reject: (error: unknown) => void;
}
