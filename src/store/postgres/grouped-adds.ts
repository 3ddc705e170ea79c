import { DatabaseUnavailableError } from '../../errors.ts';
import type { AddedJob, NewJob } from '../job-store.ts';
import { hasParents } from '../parent-refs.ts';
import { insertAll, insertAloneWithParents, insertKeyed, insertOne, isKeyed, needsTransaction, type InsertStatements } from './insert-jobs.ts';
import type { ParentStatements } from './job-parents.ts';
import type { Connections } from './pool.ts';

/**
 * Single adds made in the same turn of the event loop (request handlers,
 * `Promise.all`) share one transaction and go in as one array statement,
 * since a commit costs far more than a row. Each promise resolves only once
 * its job is committed; an add alone is one autocommitted statement.
 */
export class GroupedAdds {
  readonly #db: Connections;
  readonly #sql: InsertStatements;
  readonly #parents: ParentStatements;
  readonly #database: () => Promise<string>;
  readonly #run: <T>(fn: () => Promise<T>) => Promise<T>;
  #pending: PendingAdd[] = [];

  /** @param run wraps each database call (the store's schema check). */
  constructor(db: Connections, sql: InsertStatements, parents: ParentStatements, database: () => Promise<string>, run: <T>(fn: () => Promise<T>) => Promise<T>) {
    this.#db = db;
    this.#sql = sql;
    this.#parents = parents;
    this.#database = database;
    this.#run = run;
  }

  add(job: NewJob): Promise<AddedJob> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ job, resolve, reject });
      if (this.#pending.length === 1) queueMicrotask(() => void this.#commit());
    });
  }

  async #commit(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 1) {
      await this.#commitAlone(batch[0]!);
      return;
    }
    let added: { ids: number[]; database: string | undefined };
    try {
      const database = batch.some(({ job }) => hasParents(job)) ? await this.#database() : '';
      added = await this.#run(() => this.#db.transaction((client) => insertAll(client, this.#sql, this.#parents, batch.map(({ job }) => job), database)));
    } catch (error) {
      if (error instanceof DatabaseUnavailableError) {
        for (const add of batch) add.reject(error);
        return;
      }
      // The shared transaction rolled back: no caller's add may fail for another's bad job, so each goes alone.
      await Promise.all(batch.map((add) => this.#commitAlone(add)));
      return;
    }
    batch.forEach(({ resolve }, i) => resolve({ id: added.ids[i]!, database: added.database! }));
  }

  async #commitAlone({ job, resolve, reject }: PendingAdd): Promise<void> {
    try {
      if (needsTransaction(job)) {
        // An insert and its links or limits: one transaction.
        const database = await this.#database();
        resolve(await this.#run(() => this.#db.transaction((client) => insertAloneWithParents(client, this.#sql, this.#parents, job, database))));
        return;
      }
      // One statement either way, which commits by itself: never repeated once sent (Connections.writeOnce).
      resolve(await this.#run(() => this.#db.writeOnce((client) => (isKeyed(job) ? insertKeyed(client, this.#sql, job) : insertOne(client, this.#sql, job)))));
    } catch (error) {
      reject(error);
    }
  }
}

interface PendingAdd {
  readonly job: NewJob;
  readonly resolve: (added: AddedJob) => void;
  readonly reject: (error: unknown) => void;
}
