import type { NewJob } from '../job-store.ts';
import { hasParents, needsFlowTriggers } from '../parent-refs.ts';
import { parkAtAdd } from './concurrency-keys.ts';
import { debounceInto, isDebounced } from './debounce.ts';
import { linkParents } from './job-parents.ts';
import { insertFlowRow, usesFlow } from './job-flow.ts';
import { checkRateLimit } from './rate-limits.ts';
import * as sql from './queries.ts';
import type { InsertValues, Statements } from './statements.ts';

/*
 * Inserting jobs, for the store's add paths. Every function runs inside the
 * caller's transaction (a plain insert may also run alone).
 */

/**
 * Inserts one job of any kind; a keyed one, or one that uses workflows or
 * limits (a job_flow row, migration 0017), must run inside a transaction.
 * `earlier`: the ids of the call's entries before this one, which its
 * `after` may name.
 */
export function insertAny(s: Statements, job: NewJob, database: string, earlier: readonly number[] = []): number {
  const values = insertValues(s, job);
  if (isDebounced(job)) {
    const found = debounceInto(s.debounce, values[0], job);
    if (found !== undefined) return found;
  }
  const flow = usesFlow(job);
  const inserted = isKeyed(job) ? insertKeyed(s, values, job.key, flow) : { id: Number((flow ? s.flowRows.insertJob : s.insertJob).run(...values).lastInsertRowid), fresh: true };
  // A unique key already active returns that job, which keeps what it was added with.
  if (!inserted.fresh || !flow) return inserted.id;
  if (job.rateLimit !== undefined && job.rateLimit !== null) checkRateLimit(s.rate, job.rateLimit);
  // The triggers (flow-triggers.ts) count a keyed job's starts from its first claim, and see its parents end.
  if (needsFlowTriggers(job)) s.flow.use();
  insertFlowRow(s.flowRows, inserted.id, values, job);
  if (hasParents(job)) linkParents(s.parents, inserted.id, job, database, earlier);
  if (job.concurrency !== undefined && job.concurrency !== null) {
    parkAtAdd(s.concurrency, { id: inserted.id, targetId: values[0], priority: job.priority, runAt: job.runAt }, job.concurrency.key, job.concurrency.limit, job.createdAt);
  }
  return inserted.id;
}

/** Whether `job` needs a transaction of its own and cannot go in a multi-row insert. */
export function needsTransaction(job: NewJob): boolean {
  return isKeyed(job) || usesFlow(job);
}

export function isKeyed(job: NewJob): job is NewJob & { key: string } {
  return job.key !== undefined && job.key !== null;
}

function insertValues(s: Statements, job: NewJob): InsertValues {
  return [s.targetId(job.service, job.method), job.params, job.priority, job.runAt, job.maxAttempts, job.timeoutMs, job.createdAt, tagsText(job)];
}

/**
 * Inside a transaction: inserts `jobs` as the iterable yields them, and
 * returns their ids in the same order. Rows are taken BULK_INSERT_ROWS at a
 * time and each chunk goes in one statement call (one by one if it holds a
 * keyed job, and for the last short chunk), so only one chunk of rows is
 * ever alive: a caller that builds rows lazily (addMany) leaves the garbage
 * collector nothing large to copy. An error thrown by the iterable rolls
 * back the caller's transaction like any other.
 */
export function insertAll(s: Statements, jobs: Iterable<NewJob>, database: string): number[] {
  const ids: number[] = [];
  const chunk: NewJob[] = [];
  // Bound values, filled in place for each statement call: no array per job.
  const values: unknown[] = new Array<unknown>(sql.BULK_INSERT_ROWS * INSERT_WIDTH);
  const pairs: unknown[] = new Array<unknown>(sql.BULK_INSERT_ROWS * 2);
  for (const job of jobs) {
    chunk.push(job);
    if (chunk.length < sql.BULK_INSERT_ROWS) continue;
    if (chunk.some(needsTransaction)) {
      for (const one of chunk) ids.push(insertAny(s, one, database, ids));
    } else {
      const last = sharesAttributes(chunk) ? insertSharedRows(s, chunk, pairs) : insertRows(s, chunk, values);
      // No RETURNING (SQLite buffers its rows through a trigger): under the write lock, a plain insert gives each
      // row the largest rowid so far plus one, so one statement's rows have consecutive ids ending at the last one.
      for (let id = last - sql.BULK_INSERT_ROWS + 1; id <= last; id++) ids.push(id);
    }
    chunk.length = 0;
  }
  for (const job of chunk) ids.push(insertAny(s, job, database, ids));
  return ids;
}

/** A chunk of BULK_INSERT_ROWS jobs, every column of every row bound; returns the last id. */
function insertRows(s: Statements, chunk: readonly NewJob[], values: unknown[]): number {
  let at = 0;
  for (const job of chunk) {
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

/** As {@link insertRows}, for a chunk that passes {@link sharesAttributes}: two values a row, the rest once. */
function insertSharedRows(s: Statements, chunk: readonly NewJob[], pairs: unknown[]): number {
  const first = chunk[0]!;
  let at = 0;
  for (const job of chunk) {
    pairs[at++] = job.params;
    pairs[at++] = job.runAt;
  }
  const shared = { targetId: s.targetId(first.service, first.method), priority: first.priority, maxAttempts: first.maxAttempts, timeoutMs: first.timeoutMs, createdAt: first.createdAt, tags: tagsText(first) };
  return Number(s.insertSharedJobRows.run(pairs, shared).lastInsertRowid);
}

/**
 * Whether the jobs of a chunk differ in params and run time only, as jobs
 * from one `addMany` call mostly do. Tags compare by reference: equal arrays
 * that are not the same one take the general statement.
 */
function sharesAttributes(chunk: readonly NewJob[]): boolean {
  const first = chunk[0]!;
  const tags = first.tags ?? null;
  for (let j = 1; j < chunk.length; j++) {
    const job = chunk[j]!;
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

/** Inside a transaction: a keyed job that finds an active one with its key returns that one's id (not fresh). */
function insertKeyed(s: Statements, values: InsertValues, key: string, flow: boolean): { id: number; fresh: boolean } {
  const info = (flow ? s.flowRows.insertKeyedJob : s.insertKeyedJob).run(...values, key);
  return info.changes === 1 ? { id: Number(info.lastInsertRowid), fresh: true } : { id: s.selectActiveByKey.get(values[0], key)!, fresh: false };
}
