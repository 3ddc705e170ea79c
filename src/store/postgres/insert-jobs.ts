import { InvalidArgumentError } from '../../errors.ts';
import type pg from 'pg';
import { BLOCKED_RUN_AT, type ConcurrencyLimit, type NewJob } from '../job-store.ts';
import { hasParents } from '../parent-refs.ts';
import { linkParents, readParents, type ParentStatements } from './job-parents.ts';
import { insertKeyedRows, KeyParking, keyedRowStatements, type KeyedRow, type KeyedRowStatements } from './keyed-rows.ts';
import { COLUMNS, TAGS, values } from './job-values.ts';
import { databaseId, NOW_MS, useJobFlow, type Schema } from './schema.ts';

/** Rows per INSERT of a bulk add: arrays of this length, one round trip each. */
export const BULK_ROWS = 5000;

/** The SQL the add paths run, built once per store. */
export interface InsertStatements {
  readonly one: string;
  readonly rows: string;
  readonly keyed: string;
  readonly keyedRows: KeyedRowStatements;
  readonly debounceLock: string;
  readonly debounceMove: string;
  readonly flowJob: string;
  readonly useFlow: string;
}

export function insertStatements(s: Schema): InsertStatements {
  return {
    one: `
      INSERT INTO ${s.q}.jobs (${COLUMNS})
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ${TAGS('$9::text')})
      RETURNING id, ${databaseId(s)} AS database`,
    // Ids are drawn in the CTE, so each input row's id is known by its ordinality, whatever order INSERT … RETURNING uses.
    rows: `
      WITH input AS MATERIALIZED (
        SELECT nextval('${s.q}.job_ids') AS id, t.*
          FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::bigint[], $6::integer[], $7::bigint[], $8::bigint[], $9::text[])
               WITH ORDINALITY AS t(service, method, params, priority, run_at, max_attempts, timeout_ms, created_at, tags, ord)
      ), inserted AS (
        INSERT INTO ${s.q}.jobs (id, ${COLUMNS})
        SELECT id, service, method, params, priority, run_at, max_attempts, timeout_ms, created_at, ${TAGS('tags')} FROM input
      )
      SELECT id, ${databaseId(s)} AS database FROM input ORDER BY ord`,
    // jobs_active_key decides; the second branch finds the active job that won. It reads the statement's snapshot, so a
    // winner committed after it began is not seen: the caller runs the statement again (a new snapshot) on no row.
    keyed: `
      WITH inserted AS (
        INSERT INTO ${s.q}.jobs (${COLUMNS}, key)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ${TAGS('$9::text')}, $10)
        ON CONFLICT (service, method, key) WHERE key IS NOT NULL DO NOTHING
        RETURNING id
      )
      SELECT id, ${databaseId(s)} AS database, rank = 0 AS fresh FROM (
        SELECT id, 0 AS rank FROM inserted
        UNION ALL
        SELECT id, 1 FROM ${s.q}.jobs WHERE service = $1 AND method = $2 AND key = $10
      ) found ORDER BY rank LIMIT 1`,
    // Debounced adds of one service, method and key, one at a time, until their transactions end (migration 0010). Its
    // own statement: a statement's snapshot is taken before it waits, and the look below must see what the last add
    // committed. Two keys that hash alike only wait for each other.
    debounceLock: `SELECT pg_advisory_xact_lock(hashtextextended('${s.name}/' || $1 || '/' || $2 || '/' || $3, 0))`,
    // The waiting job with the debounce key takes these params and run time (never past its debounce_until; a job
    // held back keeps run_at at never-due and moves ready_at). Its jobs row is locked as a claim locks it: one a claim
    // is taking is waited for, is running then, and is passed over (the add makes a new job).
    debounceMove: `
      WITH found AS MATERIALIZED (
        SELECT j.id, j.run_at, f.debounce_until FROM ${s.q}.job_flow f JOIN ${s.q}.jobs j ON j.id = f.job_id
         WHERE f.service = $1 AND f.method = $2 AND f.debounce_key = $3 AND f.debounce_key IS NOT NULL AND j.state = 0
         ORDER BY j.id LIMIT 1
           FOR UPDATE OF j
      ), flow AS (
        UPDATE ${s.q}.job_flow f SET ready_at = least($5::bigint, coalesce(found.debounce_until, $5::bigint))
          FROM found WHERE f.job_id = found.id AND found.run_at = ${BLOCKED_RUN_AT}
      )
      UPDATE ${s.q}.jobs j
         SET params = $4,
             run_at = CASE WHEN found.run_at = ${BLOCKED_RUN_AT} THEN found.run_at ELSE least($5::bigint, coalesce(found.debounce_until, $5::bigint)) END
        FROM found WHERE j.id = found.id
      RETURNING j.id, ${databaseId(s)} AS database`,
    // A job using workflows or limits, with its job_flow row (migration 0010), in one statement, inserted as it will
    // stay: held at never-due while it waits for parents ($16 of them), or parked if it is due by the server's clock
    // and its key ($13, limit $14) is full before it. Inserting it due and then holding it would leave a dead entry
    // at the front of jobs_claim, which claims walk over until vacuum (issue 18: 100,000 jobs behind a key).
    //
    // Parked ($19): as keyed-rows.ts's KeyParking decided, if due by the server's clock and not waiting for parents.
    //
    // A unique key already active ($10) finds that job, as `keyed` does; no key never conflicts. `rate_known`: the
    // rate limit named ($18), if any, exists (the caller refuses the add if not).
    flowJob: `
      WITH input AS MATERIALIZED (
        SELECT $16::integer > 0 AS waits, $16::integer = 0 AND $19::boolean AND $5::bigint <= ${NOW_MS} AS parked,
               (SELECT name FROM ${s.q}.rate_limits WHERE name = $18::text) AS rate_limit
      ), inserted AS (
        INSERT INTO ${s.q}.jobs (${COLUMNS}, key, flow)
        SELECT $1, $2, $3, $4, CASE WHEN waits OR parked THEN ${BLOCKED_RUN_AT} ELSE $5::bigint END, $6, $7, $8, ${TAGS('$9::text')}, $10, true
          FROM input
        ON CONFLICT (service, method, key) WHERE key IS NOT NULL DO NOTHING
        RETURNING id, service, method, priority
      ), flow AS (
        INSERT INTO ${s.q}.job_flow (job_id, service, method, priority, debounce_key, debounce_until, concurrency_key, concurrency_limit,
                                     parents, waiting_for, on_parent_failure, parked, ready_at, rate_limit)
        SELECT i.id, i.service, i.method, i.priority, $11, $12, $13, $14, $15, $16, $17, input.parked,
               CASE WHEN $15::integer > 0 OR input.parked THEN $5::bigint END, input.rate_limit
          FROM inserted i, input
      )
      SELECT id, ${databaseId(s)} AS database, rank = 0 AS fresh, (SELECT rate_limit FROM input) IS NOT DISTINCT FROM $18::text AS rate_known
        FROM (
          SELECT id, 0 AS rank FROM inserted
          UNION ALL
          SELECT id, 1 FROM ${s.q}.jobs WHERE service = $1 AND method = $2 AND key = $10
        ) found ORDER BY rank LIMIT 1`,
    useFlow: useJobFlow(s),
    keyedRows: keyedRowStatements(s),
  };
}

export function isKeyed(job: NewJob): job is NewJob & { key: string } {
  return job.key !== undefined && job.key !== null;
}

/** Inserts one job without a key (a statement alone commits it). */
export async function insertOne(client: pg.ClientBase, sql: InsertStatements, job: NewJob): Promise<{ id: number; database: string }> {
  const { rows } = await client.query<{ id: number; database: string }>({ name: 'insert-one', text: sql.one, values: values(job) });
  return rows[0]!;
}

/** Inserts a keyed job, or finds the active one with its key. One statement, repeated only when a concurrent winner was not yet visible. */
export async function insertKeyed(client: pg.ClientBase, sql: InsertStatements, job: NewJob & { key: string }): Promise<{ id: number; database: string; fresh: boolean }> {
  for (;;) {
    const { rows } = await client.query<{ id: number; database: string; fresh: boolean }>({ name: 'insert-keyed', text: sql.keyed, values: [...values(job), job.key] });
    if (rows[0] !== undefined) return rows[0];
  }
}

/**
 * Inside a transaction: inserts `jobs` in order and returns their ids in the
 * same order (`database`: the one in use, which parents must be of). Runs of
 * plain jobs go BULK_ROWS to a statement, as parallel arrays (one round trip
 * each), and so do runs of jobs with only a concurrency key (keyed-rows.ts);
 * any other job goes alone, so that it sees the jobs inserted before it, in
 * this batch too.
 */
export async function insertAll(
  client: pg.ClientBase, sql: InsertStatements, parents: ParentStatements, jobs: readonly NewJob[], database: string,
): Promise<{ ids: number[]; database: string | undefined }> {
  if (jobs.some(needsTransaction)) await useFlowTriggers(client, sql);
  const parking = new KeyParking(client, sql.keyedRows, jobs, Date.now());
  const ids: number[] = [];
  let found: string | undefined;
  let from = 0;
  while (from < jobs.length) {
    const first = jobs[from]!;
    if (isKeyedRow(first)) {
      const run: KeyedRow[] = [];
      for (let job = jobs[from]; job !== undefined && isKeyedRow(job) && run.length < BULK_ROWS; job = jobs[++from]) run.push(job);
      const added = await insertKeyedRows(client, sql.keyedRows, parking, run);
      for (const row of added) ids.push(row.id);
      found = added[0]?.database ?? found;
      continue;
    }
    if (goesAlone(first)) {
      const added = await insertWithParents(client, sql, parents, first, database, ids, parking);
      ids.push(added.id);
      found = added.database;
      from++;
      continue;
    }
    let to = from;
    while (to < jobs.length && to - from < BULK_ROWS && !goesAlone(jobs[to]!)) to++;
    const columns: unknown[][] = Array.from({ length: 9 }, () => new Array<unknown>(to - from));
    for (let i = from; i < to; i++) {
      const row = values(jobs[i]!);
      for (let c = 0; c < 9; c++) columns[c]![i - from] = row[c];
    }
    const { rows } = await client.query<{ id: number; database: string }>({ name: 'insert-rows', text: sql.rows, values: columns });
    for (const row of rows) ids.push(row.id);
    found = rows[0]?.database ?? found;
    from = to;
  }
  return { ids, database: found };
}

/** A job whose only option beyond a plain job's is a concurrency key: inserted with others like it (keyed-rows.ts). */
function isKeyedRow(job: NewJob): job is KeyedRow {
  return hasConcurrency(job) && !isKeyed(job) && !hasParents(job) && !isDebounced(job) && !isRateLimited(job);
}

/** A keyed job, or one that waits for others: inserted by itself, so that it sees the jobs inserted before it. */
export function goesAlone(job: NewJob): boolean {
  return isKeyed(job) || hasParents(job) || hasConcurrency(job) || isDebounced(job) || isRateLimited(job);
}

function hasConcurrency(job: NewJob): job is NewJob & { concurrency: ConcurrencyLimit } {
  return job.concurrency !== undefined && job.concurrency !== null;
}

function isRateLimited(job: NewJob): job is NewJob & { rateLimit: string } {
  return job.rateLimit !== undefined && job.rateLimit !== null;
}

function isDebounced(job: NewJob): job is NewJob & { debounce: { key: string; untilAt: number | null } } {
  return job.debounce !== undefined && job.debounce !== null;
}

/** Moves the waiting job with `job`'s debounce key, as one add of it, or finds none (its add inserts one). */
async function moveDebounced(client: pg.ClientBase, sql: InsertStatements, job: NewJob & { debounce: { key: string } }): Promise<{ id: number; database: string } | undefined> {
  await client.query({ name: 'debounce-lock', text: sql.debounceLock, values: [job.service, job.method, job.debounce.key] });
  const { rows } = await client.query<{ id: number; database: string }>({
    name: 'debounce-move', text: sql.debounceMove, values: [job.service, job.method, job.debounce.key, job.params, job.runAt],
  });
  return rows[0];
}

/**
 * First in a transaction that adds a job with a job_flow row: makes the row
 * triggers of job_flow if the schema has none yet (migrations 0009 and 0010;
 * one look at a meta row once they exist). First, so that it holds no lock
 * on `jobs` while CREATE TRIGGER waits for the writers there.
 */
async function useFlowTriggers(client: pg.ClientBase, sql: InsertStatements): Promise<void> {
  await client.query({ name: 'use-job-flow', text: sql.useFlow });
}

/** As {@link insertWithParents}, as a transaction's only add: makes the triggers it needs first. */
export async function insertAloneWithParents(
  client: pg.ClientBase, sql: InsertStatements, parents: ParentStatements, job: NewJob, database: string,
): Promise<{ id: number; database: string }> {
  if (needsTransaction(job)) await useFlowTriggers(client, sql);
  return insertWithParents(client, sql, parents, job, database, [], new KeyParking(client, sql.keyedRows, [job], Date.now()));
}

/** Whether `job` has a job_flow row (its parents, its limits): its add takes more than one statement, a transaction. */
export function needsTransaction(job: NewJob): boolean {
  return hasParents(job) || hasConcurrency(job) || isDebounced(job) || isRateLimited(job);
}

/**
 * Inside a transaction: one job of any kind, linked to its parents (a key
 * already active returns that job, which keeps the parents it was added
 * with). `earlier`: the ids of the call's entries before it. The caller has
 * made the triggers the job needs ({@link useFlowTriggers}).
 */
async function insertWithParents(
  client: pg.ClientBase, sql: InsertStatements, parents: ParentStatements, job: NewJob, database: string, earlier: readonly number[], parking: KeyParking,
): Promise<{ id: number; database: string }> {
  if (isDebounced(job)) {
    const moved = await moveDebounced(client, sql, job);
    if (moved !== undefined) return moved;
  }
  if (!needsTransaction(job)) return isKeyed(job) ? insertKeyed(client, sql, job) : insertOne(client, sql, job);
  // What its parents decide is read first, so that its jobs row is written once (see `flowJob`).
  const after = hasParents(job) ? await readParents(client, parents, job, database, earlier) : undefined;
  const waits = (after?.waitingFor ?? 0) > 0;
  const park = hasConcurrency(job) && (await parking.park(job, waits));
  const flow = [
    job.debounce?.key ?? null, job.debounce?.untilAt ?? null, job.concurrency?.key ?? null, job.concurrency?.limit ?? null,
    after?.ids.length ?? 0, after?.waitingFor ?? 0, after?.runAnyway ?? false, job.rateLimit ?? null, park,
  ];
  let added: { id: number; database: string; fresh: boolean; rate_known: boolean } | undefined;
  // No row: a concurrent winner with the same unique key was not yet visible to the statement's snapshot (see `keyed`).
  while (added === undefined) {
    ({ rows: [added] } = await client.query<{ id: number; database: string; fresh: boolean; rate_known: boolean }>({
      name: 'insert-flow', text: sql.flowJob, values: [...values(job), job.key ?? null, ...flow],
    }));
  }
  // A unique key already active returns that job, which keeps what it was added with.
  if (!added.fresh) return { id: added.id, database: added.database };
  if (!added.rate_known) throw new InvalidArgumentError(`rateLimit: no rate limit named "${job.rateLimit}" (set it first with worker.setRateLimit(name, { limit, perSeconds }))`);
  if (after !== undefined) await linkParents(client, parents, added.id, after, job.createdAt);
  // Held for parents, or cancelled at once for a failed one: it is not ahead of the call's later jobs of its key.
  if (hasConcurrency(job) && !waits && after?.failed === undefined) parking.admitted(job, park);
  return { id: added.id, database: added.database };
}
