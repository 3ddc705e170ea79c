import type { Database, Statement } from 'better-sqlite3';
import type { NewJob } from '../job-store.ts';
import { hasParents } from '../parent-refs.ts';
import * as sql from './queries.ts';
import type { ClaimedRow, InsertValues, Statements } from './statements.ts';

/*
 * The side table of workflows and limits (migration 0017): a job that uses
 * any of them has a job_flow row and jobs.flow = 1; a plain job has neither
 * and never reads or writes job_flow on its add, claim or outcome. Here: a
 * new job's row, and what the claim reads of the flagged jobs it took.
 * The features' own statements are in their files (job-parents.ts,
 * concurrency-keys.ts, debounce.ts, pause.ts, rate-limits.ts).
 */

/** What the claim needs of a flagged job: how many parents it has, its concurrency key and limit, its rate limit. */
export interface ClaimFlow {
  readonly parents: number;
  readonly concurrencyKey: string | null;
  readonly concurrencyLimit: number | null;
  readonly rateLimit: string | null;
}

/** The values of a new job's job_flow row that its add sets; the rest are set by linkParents, or left at their defaults. */
interface NewFlowRow {
  id: number;
  targetId: number;
  priority: number;
  concurrencyKey: string | null;
  concurrencyLimit: number | null;
  debounceKey: string | null;
  debounceUntil: number | null;
  rateLimit: string | null;
}

/** The statements of this file, prepared on a connection's first use of them. */
export class FlowStatements {
  readonly insertJob: Statement<InsertValues>;
  readonly insertKeyedJob: Statement<[...InsertValues, string]>;
  readonly insertRow: Statement<[NewFlowRow]>;
  readonly ofClaimed: Statement<[number], [number, string | null, number | null, string | null]>;

  constructor(db: Database) {
    this.insertJob = db.prepare<InsertValues>(sql.insertFlowJob);
    this.insertKeyedJob = db.prepare<[...InsertValues, string]>(sql.insertKeyedFlowJob);
    this.insertRow = db.prepare<[NewFlowRow]>(`
      INSERT INTO job_flow (job_id, target_id, priority, concurrency_key, concurrency_limit, debounce_key, debounce_until, rate_limit)
      VALUES (@id, @targetId, @priority, @concurrencyKey, @concurrencyLimit, @debounceKey, @debounceUntil, @rateLimit)`);
    this.ofClaimed = db.prepare<[number], [number, string | null, number | null, string | null]>(
      'SELECT parents, concurrency_key, concurrency_limit, rate_limit FROM job_flow WHERE job_id = ?').raw();
  }
}

/** Whether `job` gets a job_flow row when added. */
export function usesFlow(job: NewJob): boolean {
  return hasParents(job) || (job.concurrency !== undefined && job.concurrency !== null) || (job.debounce !== undefined && job.debounce !== null)
    || (job.rateLimit !== undefined && job.rateLimit !== null);
}

/** Inside the add's transaction, right after job `id` was inserted with flow = 1: its job_flow row. */
export function insertFlowRow(f: FlowStatements, id: number, values: InsertValues, job: NewJob): void {
  f.insertRow.run({
    id,
    targetId: values[0],
    priority: values[2],
    concurrencyKey: job.concurrency?.key ?? null,
    concurrencyLimit: job.concurrency?.limit ?? null,
    debounceKey: job.debounce?.key ?? null,
    debounceUntil: job.debounce?.untilAt ?? null,
    rateLimit: job.rateLimit ?? null,
  });
}

/** Column position of a claimed row's flag (see {@link ClaimedRow}). */
const FLOW = 7;

/**
 * Inside the claim's transaction: what the claim needs of the flagged rows
 * it read, by job id; undefined when none is flagged, as for plain jobs.
 */
export function flowsOf(s: Statements, rows: readonly ClaimedRow[]): ReadonlyMap<number, ClaimFlow> | undefined {
  let flows: Map<number, ClaimFlow> | undefined;
  for (const row of rows) {
    if (row[FLOW] !== 1) continue;
    const found = s.flowRows.ofClaimed.get(row[0]);
    if (found === undefined) continue; // flagged rows always have one (migration 0017); read as plain if not
    const [parents, concurrencyKey, concurrencyLimit, rateLimit] = found;
    (flows ??= new Map()).set(row[0], { parents, concurrencyKey, concurrencyLimit, rateLimit });
  }
  return flows;
}
