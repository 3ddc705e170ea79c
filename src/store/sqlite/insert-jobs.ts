import type { NewJob } from '../job-store.ts';
import * as sql from './queries.ts';
import type { InsertValues, Statements } from './statements.ts';

/*
 * Inserting jobs, for the store's add paths. Every function runs inside the
 * caller's transaction (a plain insert may also run alone).
 */

/** Inserts one job of either kind; a keyed one must run inside a transaction. */
export function insertAny(s: Statements, job: NewJob): number {
  return isKeyed(job) ? insertKeyed(s, job) : Number(s.insertJob.run(...insertValues(s, job)).lastInsertRowid);
}

/** Before a transaction that inserts `jobs`: registers their targets, so the inserts find them kept (see {@link Statements.targetId}). */
export function registerTargets(s: Statements, jobs: readonly NewJob[]): void {
  let service: string | undefined;
  let method: string | undefined;
  for (const job of jobs) {
    if (job.service === service && job.method === method) continue; // bulk jobs mostly share one
    ({ service, method } = job);
    s.targetId(service, method);
  }
}

export function isKeyed(job: NewJob): job is NewJob & { key: string } {
  return job.key !== undefined && job.key !== null;
}

function insertValues(s: Statements, job: NewJob): InsertValues {
  return [s.targetId(job.service, job.method), job.params, job.priority, job.runAt, job.maxAttempts, job.timeoutMs, job.createdAt, tagsText(job)];
}

/**
 * Inside a transaction, the usual bulk case: BULK_INSERT_ROWS jobs per
 * statement call, the rest one by one. Ids come back in insertion order.
 */
export function insertUnkeyed(s: Statements, jobs: readonly NewJob[]): number[] {
  const ids: number[] = [];
  // Bound values, filled in place for each statement call: no array per job.
  const values: unknown[] = new Array<unknown>(sql.BULK_INSERT_ROWS * INSERT_WIDTH);
  const pairs: unknown[] = new Array<unknown>(sql.BULK_INSERT_ROWS * 2);
  let i = 0;
  for (; i + sql.BULK_INSERT_ROWS <= jobs.length; i += sql.BULK_INSERT_ROWS) {
    const last = sharesAttributes(jobs, i) ? insertSharedRows(s, jobs, i, pairs) : insertRows(s, jobs, i, values);
    // No RETURNING (SQLite buffers its rows through a trigger): under the write lock, a plain insert gives each
    // row the largest rowid so far plus one, so one statement's rows have consecutive ids ending at the last one.
    for (let id = last - sql.BULK_INSERT_ROWS + 1; id <= last; id++) ids.push(id);
  }
  for (; i < jobs.length; i++) ids.push(Number(s.insertJob.run(...insertValues(s, jobs[i]!)).lastInsertRowid));
  return ids;
}

/** BULK_INSERT_ROWS jobs from `from`, every column of every row bound; returns the last id. */
function insertRows(s: Statements, jobs: readonly NewJob[], from: number, values: unknown[]): number {
  for (let j = from, at = 0; j < from + sql.BULK_INSERT_ROWS; j++) {
    const job = jobs[j]!;
    values[at++] = s.targetId(job.service, job.method);
    values[at++] = job.params;
    values[at++] = job.priority;
    values[at++] = job.runAt;
    values[at++] = job.maxAttempts;
    values[at++] = job.timeoutMs;
    values[at++] = job.createdAt;
    values[at++] = tagsText(job);
  }
  return Number(s.insertJobRows.run(values).lastInsertRowid);
}

/** As {@link insertRows}, for jobs that pass {@link sharesAttributes}: two values a row, the rest once. */
function insertSharedRows(s: Statements, jobs: readonly NewJob[], from: number, pairs: unknown[]): number {
  const first = jobs[from]!;
  for (let j = from, at = 0; j < from + sql.BULK_INSERT_ROWS; j++) {
    const job = jobs[j]!;
    pairs[at++] = job.params;
    pairs[at++] = job.runAt;
  }
  const shared = { targetId: s.targetId(first.service, first.method), priority: first.priority, maxAttempts: first.maxAttempts, timeoutMs: first.timeoutMs, createdAt: first.createdAt, tags: tagsText(first) };
  return Number(s.insertSharedJobRows.run(pairs, shared).lastInsertRowid);
}

/**
 * Whether the BULK_INSERT_ROWS jobs from `from` differ in params and run time
 * only, as jobs from one `addMany` call mostly do. Tags compare by reference:
 * equal arrays that are not the same one take the general statement.
 */
function sharesAttributes(jobs: readonly NewJob[], from: number): boolean {
  const first = jobs[from]!;
  const tags = first.tags ?? null;
  for (let j = from + 1; j < from + sql.BULK_INSERT_ROWS; j++) {
    const job = jobs[j]!;
    if (job.method !== first.method || job.service !== first.service || job.priority !== first.priority || job.maxAttempts !== first.maxAttempts
      || job.timeoutMs !== first.timeoutMs || job.createdAt !== first.createdAt || (job.tags ?? null) !== tags) return false;
  }
  return true;
}

/** Columns of {@link InsertValues}. */
const INSERT_WIDTH = 8;

function tagsText(job: NewJob): string | null {
  return job.tags === undefined || job.tags === null || job.tags.length === 0 ? null : JSON.stringify(job.tags);
}

/** Inside a transaction: a keyed job that finds an active one with its key returns that one's id. */
function insertKeyed(s: Statements, job: NewJob & { key: string }): number {
  const values = insertValues(s, job);
  const info = s.insertKeyedJob.run(...values, job.key);
  return info.changes === 1 ? Number(info.lastInsertRowid) : s.selectActiveByKey.get(values[0], job.key)!;
}
