import type pg from 'pg';
import { BLOCKED_RUN_AT, defaultsByMethod, type ClaimedJob, type ClaimRequest } from '../job-store.ts';
import { holdStatement } from './pause.ts';
import { databaseId, NOW_MS, STATE, type Schema } from './schema.ts';

export interface ClaimStatements {
  readonly skip: string;
  readonly alone: string;
}

/**
 * The two claims. `plain` leases its candidates only when none has a
 * concurrency key or a rate limit and nothing is paused, and otherwise
 * leases nothing and says so (`limited`); `full` applies every limit. Both
 * report `limited`, so a store tries the plain claim first until a claim
 * meets limits, then the full one until a claim meets none ({@link ClaimHint}).
 * Why two: PostgreSQL plans a claim at every run (its LIMIT is a parameter,
 * and a generic plan measured three times slower), and the full claim's
 * planning alone cost 1.0–1.6 ms a batch against 0.24 ms for the plain one:
 * most of the ~14 µs a job that issue 18's limits had added to claims of
 * jobs that use none (bench/claim-cost.ts).
 */
export interface ClaimPaths {
  readonly plain: ClaimStatements;
  readonly full: ClaimStatements;
}

export type ClaimPath = keyof ClaimPaths;

/**
 * Which claim a store runs first: the plain one, until a claim's candidates
 * meet a limit or a pause. Only a guess about the next claim: either claim
 * is right for any jobs (the plain one hands over to the full one), a wrong
 * guess costs a round trip.
 */
export class ClaimHint {
  limited = false;

  get path(): ClaimPath {
    return this.limited ? 'full' : 'plain';
  }
}

/** Where a claim's two values come from: `$1` and `$2` alone, later parameters when it shares a statement. */
interface ClaimParams {
  readonly owner: string;
  readonly limit: string;
  /** The first of four: the defaults' services, methods, attempts and timeouts ({@link defaultsValues}). */
  readonly defaults: number;
}

/** Orders the jobs a claim takes, and the rows it returns. */
const ORDER = 'priority DESC, run_at, id';

/**
 * The claim: the first due waiting jobs in claim order, locked with
 * `FOR UPDATE SKIP LOCKED` (a job another worker is claiming right now is
 * passed over, not waited for), leased to the owner in the same statement.
 * `MATERIALIZED` keeps the planner from re-running the locking scan per row.
 * Due means `run_at` at or before the database's clock: hosts' clocks may
 * differ, the server's is one. The owner is looked up or registered
 * (owner_id, migration 0001) only when a job is leased: an idle worker's
 * polls write nothing.
 *
 * These are the statement's common table expressions only (`picked`,
 * `limited`, `owner`, `leased`…, without the leading WITH), so
 * that a statement recording outcomes can claim too ({@link claimStatements}
 * completes them). `path` picks the plain or the full claim ({@link ClaimPaths}).
 */
export function claimParts(s: Schema, params: ClaimParams, path: ClaimPath): ClaimStatements {
  const due = `state = ${STATE.waiting} AND run_at <= ${NOW_MS}`;
  // The plain claim's candidates carry no more than it uses (each column is copied into the CTE's tuplestore:
  // measured in the server's instructions per job); the full claim's, what its limits need.
  // A limit is in a flagged job's job_flow row (migration 0010): a plain job's is never looked up (AND stops first).
  const limits = `j.flow AND EXISTS (SELECT 1 FROM ${s.q}.job_flow f WHERE f.job_id = j.id AND (f.concurrency_key IS NOT NULL OR f.rate_limit IS NOT NULL))`;
  const columns = (alone: boolean): string => path === 'full'
    ? 'id, isolated, priority, run_at, service, method, flow'
    : `id,${alone ? ' isolated, priority, run_at,' : ''} service, method, (${limits}) AS limits`;
  // Whether the limits have anything to do: the plain claim leases only when they have not.
  const limited = (candidates: string, where: string) => `
      limited AS MATERIALIZED (
        SELECT EXISTS (SELECT 1 FROM ${candidates} WHERE ${where}) OR EXISTS (SELECT 1 FROM ${s.q}.paused) AS yes
      ),`;
  // The plain claim leases its candidates as they are, all or none: no CTE of the allowed ones (a copy of each row).
  const lease = (candidates: string) => (path === 'full' ? `${limitParts(s, candidates)}
      ${limited('runnable', 'concurrency_key IS NOT NULL OR rate_limit IS NOT NULL')}` : limited(candidates, 'limits')) + `
      owner AS MATERIALIZED (SELECT ${s.q}.owner_id(${params.owner}) AS id),
      method_defaults AS MATERIALIZED (
        SELECT * FROM unnest($${params.defaults}::text[], $${params.defaults + 1}::text[], $${params.defaults + 2}::integer[], $${params.defaults + 3}::bigint[])
          AS t(service, method, max_attempts, timeout_ms)
      ),
      leased AS (
        -- A job added without attempts or a timeout gets its method's, as the worker sent them (ClaimRequest.defaults).
        -- A join, not a sub-select per job: that cost ~2.5 µs of server CPU a job (bench/claim-cost.ts).
        UPDATE ${s.q}.jobs j
           SET state = ${STATE.running}, lease_owner = (SELECT id FROM owner), attempts = j.attempts + 1, started_at = ${NOW_MS},
               max_attempts = CASE WHEN j.max_attempts = 0 THEN COALESCE(p.default_attempts, 0) ELSE j.max_attempts END,
               timeout_ms = COALESCE(j.timeout_ms, p.default_timeout_ms)
          FROM (SELECT a.id, d.max_attempts AS default_attempts, d.timeout_ms AS default_timeout_ms
                  FROM ${path === 'full' ? 'allowed' : candidates} a LEFT JOIN method_defaults d ON d.service = a.service AND d.method = a.method) p
         WHERE j.id = p.id${path === 'full' ? '' : ' AND NOT (SELECT yes FROM limited)'}
        RETURNING j.id, j.service, j.method, j.params, j.attempts, j.max_attempts, j.timeout_ms, j.isolated, j.priority, j.run_at,
                  -- Looked up for a flagged job only (CASE evaluates its branch alone): NULL, none, for a plain one.
                  CASE WHEN j.flow THEN (SELECT f.parents FROM ${s.q}.job_flow f WHERE f.job_id = j.id) END AS parents
      )`;
  return {
    // For a worker that runs other jobs: isolated jobs are never taken.
    skip: `
      picked AS MATERIALIZED (
        SELECT ${columns(false)} FROM ${s.q}.jobs j WHERE ${due} AND NOT isolated ORDER BY ${ORDER} LIMIT ${params.limit} FOR UPDATE SKIP LOCKED
      ), ${lease('picked')}`,
    // For a worker running nothing: in order, up to the first isolated job, which is taken alone if it comes first.
    // The rows locked past it stay locked only until this statement's transaction ends.
    alone: `
      picked AS MATERIALIZED (
        SELECT *, row_number() OVER (ORDER BY ${ORDER}) AS rank
          FROM (SELECT ${columns(true)} FROM ${s.q}.jobs j WHERE ${due} ORDER BY ${ORDER} LIMIT ${params.limit} FOR UPDATE SKIP LOCKED) ordered
      ), cut AS MATERIALIZED (
        SELECT * FROM picked
         WHERE rank = 1 OR rank < COALESCE((SELECT min(rank) FROM picked WHERE isolated), 9223372036854775807)
      ), ${lease('cut')}`,
  };
}

/**
 * The full claim's limits, from its candidates to `allowed` (the ids it
 * leases). Paused targets (migration 0006): a candidate of one is held
 * (never due until resumed) instead of taken. Per-key concurrency (migration
 * 0004): of the rest, a keyed job is taken while its key has room, counting
 * the key's running jobs (its row locked, in key order: no deadlock between
 * claims) and the candidates before it. The key's other due jobs are parked
 * (SKIP LOCKED: those another claim holds are left to it). Unkeyed jobs pass.
 * Rate limits (migration 0007): of those, a rate-limited job starts while its
 * name had fewer than its limit of starts in the last per_ms (the name's row
 * locked, in name order; its log read as the last claim left it); the others
 * move to a slot a window later, and are looked at again then.
 */
function limitParts(s: Schema, candidates: string): string {
  return `
      paused_rows AS MATERIALIZED (
        -- The first EXISTS is looked at once (an InitPlan): with nothing paused, no candidate is probed.
        SELECT c.id, c.service, c.method, c.priority, c.run_at FROM ${candidates} c
         WHERE EXISTS (SELECT 1 FROM ${s.q}.paused)
           AND EXISTS (SELECT 1 FROM ${s.q}.paused p WHERE p.service = c.service AND p.method IN ('', c.method))
      ), paused_flagged AS (
        UPDATE ${s.q}.jobs j SET flow = true, run_at = ${BLOCKED_RUN_AT} WHERE j.id IN (SELECT id FROM paused_rows)
      ), paused_held AS (
        ${holdStatement(s, 'paused_rows')}
      ), runnable AS MATERIALIZED (
        -- A flagged candidate's limits, from its job_flow row.
        SELECT c.*, f.concurrency_key, f.concurrency_limit, f.rate_limit
          FROM ${candidates} c LEFT JOIN ${s.q}.job_flow f ON c.flow AND f.job_id = c.id
         WHERE c.id NOT IN (SELECT id FROM paused_rows)
      ), keys AS MATERIALIZED (
        SELECT key, running FROM ${s.q}.concurrency_keys
         WHERE key IN (SELECT concurrency_key FROM runnable WHERE concurrency_key IS NOT NULL)
         ORDER BY key FOR UPDATE
      ), key_allowed AS MATERIALIZED (
        -- Unkeyed candidates pass as they are; only keyed ones are ranked.
        SELECT id FROM runnable WHERE concurrency_key IS NULL
        UNION ALL
        SELECT c.id FROM (
          SELECT c.*, row_number() OVER (PARTITION BY c.concurrency_key ORDER BY ${ORDER}) AS nth FROM runnable c
           WHERE c.concurrency_key IS NOT NULL
        ) c LEFT JOIN keys k ON k.key = c.concurrency_key
         WHERE COALESCE(k.running, 0) + c.nth <= COALESCE(c.concurrency_limit, 1)
      ), to_park AS MATERIALIZED (
        -- The jobs rows locked first, then their job_flow rows changed: the order of every statement changing both.
        SELECT w.id, w.run_at FROM ${s.q}.jobs w JOIN ${s.q}.job_flow f ON f.job_id = w.id
         WHERE EXISTS (SELECT 1 FROM runnable WHERE concurrency_key IS NOT NULL)
           AND f.concurrency_key IS NOT NULL AND NOT f.parked
           AND f.concurrency_key IN (SELECT concurrency_key FROM runnable WHERE concurrency_key IS NOT NULL AND id NOT IN (SELECT id FROM key_allowed))
           AND w.state = ${STATE.waiting} AND w.run_at <= ${NOW_MS}
           AND w.id NOT IN (SELECT id FROM key_allowed) AND w.id NOT IN (SELECT id FROM paused_rows)
           FOR UPDATE OF w SKIP LOCKED
      ), parked_flow AS (
        UPDATE ${s.q}.job_flow f SET parked = true, ready_at = p.run_at FROM to_park p WHERE f.job_id = p.id
      ), parked AS (
        UPDATE ${s.q}.jobs j SET run_at = ${BLOCKED_RUN_AT} FROM to_park p WHERE j.id = p.id
      ), rated AS MATERIALIZED (
        SELECT c.id, c.rate_limit, row_number() OVER (PARTITION BY c.rate_limit ORDER BY ${ORDER}) AS nth
          FROM runnable c
         WHERE c.rate_limit IS NOT NULL AND c.id IN (SELECT id FROM key_allowed)
      ), limits AS MATERIALIZED (
        SELECT l.name, l.max_starts, l.per_ms,
               ARRAY(SELECT t FROM unnest(l.starts) t WHERE t > ${NOW_MS} - l.per_ms ORDER BY t) AS recent
          FROM ${s.q}.rate_limits l
         WHERE EXISTS (SELECT 1 FROM rated) AND l.name IN (SELECT rate_limit FROM rated)
         ORDER BY l.name FOR UPDATE
      ), over_rate AS MATERIALIZED (
        SELECT r.id,
               COALESCE(l.recent[1], ${NOW_MS}) + l.per_ms * ceil((cardinality(l.recent) + r.nth - l.max_starts)::numeric / l.max_starts)::bigint AS slot
          FROM rated r JOIN limits l ON l.name = r.rate_limit
         WHERE cardinality(l.recent) + r.nth > l.max_starts
      ), rate_moved AS (
        UPDATE ${s.q}.jobs j SET run_at = o.slot FROM over_rate o WHERE j.id = o.id
      ), rate_logged AS (
        UPDATE ${s.q}.rate_limits l
           SET starts = lm.recent || array_fill(${NOW_MS}::bigint, ARRAY[(SELECT count(*)::integer FROM rated r WHERE r.rate_limit = l.name AND r.id NOT IN (SELECT id FROM over_rate))])
          FROM limits lm WHERE lm.name = l.name
      ), allowed AS MATERIALIZED (
        SELECT c.id, c.service, c.method FROM runnable c
         WHERE c.id IN (SELECT id FROM key_allowed) AND c.id NOT IN (SELECT id FROM over_rate)
      ),`;
}

/** The claim alone, as one statement of `$1` (the owner), `$2` (the limit) and `$3`–`$6` ({@link defaultsValues}). */
export function claimStatements(s: Schema): ClaimPaths {
  const statements = (path: ClaimPath): ClaimStatements => {
    const parts = claimParts(s, { owner: '$1', limit: '$2', defaults: 3 }, path);
    // Always one row at least: with nothing leased, the one row tells how many candidates were set aside, and whether limits met.
    const select = `
      SELECT l.id, l.service, l.method, l.params, l.attempts, l.max_attempts, l.timeout_ms, l.isolated,
             COALESCE(l.parents, 0) AS parents,
             ${databaseId(s)} AS database, a.set_aside, a.limited
        FROM (SELECT ${setAside(path)} AS set_aside, (SELECT yes FROM limited) AS limited) a LEFT JOIN leased l ON true
       ORDER BY l.priority DESC, l.run_at, l.id`;
    return { skip: `WITH ${parts.skip}${select}`, alone: `WITH ${parts.alone}${select}` };
  };
  return { plain: statements('plain'), full: statements('full') };
}

/**
 * Of a full claim's candidates, how many it held (a paused target) or parked
 * (a full concurrency key) instead of leasing: those are out of the way now,
 * and a claim that leased fewer than it could is worth running again. The
 * plain claim sets none aside.
 */
export function setAside(path: ClaimPath): string {
  return path === 'plain' ? '0' : '(SELECT count(*) FROM paused_rows) + (SELECT count(*) FROM runnable) - (SELECT count(*) FROM allowed)';
}

/** Claims again, up to this many times, while a claim sets candidates aside and leases fewer than asked. */
const MAX_ROUNDS = 5;

/** A claimed row as `leased` returns it (in JSON, inside the statement that also records outcomes). */
export interface ClaimedRow {
  id: number;
  service: string;
  method: string;
  params: string;
  attempts: number;
  max_attempts: number;
  timeout_ms: number | null;
  isolated: boolean;
  parents: number;
  database: string;
}

/**
 * Runs the claim on `client` (in the caller's transaction, or alone: one
 * statement is atomic): the claim `hint` names, and the full one after a
 * plain one that met limits (it leased nothing).
 */
export async function claimJobs(client: Pick<pg.ClientBase, 'query'>, sql: ClaimPaths, request: ClaimRequest, hint: ClaimHint): Promise<ClaimedJob[]> {
  const claimed: ClaimedJob[] = [];
  for (let round = 0; round < MAX_ROUNDS && claimed.length < request.limit; round++) {
    // An isolated job taken alone ends the claim: nothing may go with it.
    if (claimed.some((job) => job.isolated)) break;
    const isolated = claimed.length > 0 ? 'skip' : request.isolated;
    const path = hint.path;
    const values = [request.owner, request.limit - claimed.length, ...defaultsValues(request)];
    const { rows } = await client.query<ClaimedRow & { set_aside: number; limited: boolean }>({ name: `claim-${path}-${isolated}`, text: sql[path][isolated], values });
    for (const row of rows) if (row.id !== null) claimed.push(toClaimedJob(row));
    hint.limited = rows[0]?.limited === true;
    if (path === 'plain' ? !hint.limited : Number(rows[0]?.set_aside ?? 0) === 0) break;
  }
  return claimed;
}

/** A claim's defaults as the statement's four parallel arrays: one entry per method, the first given (see ClaimRequest.defaults). */
export function defaultsValues(request: ClaimRequest): [string[], string[], number[], (number | null)[]] {
  // The statement joins each job to its method's entry: two entries for one method would lease the job twice over in one UPDATE (one of them wins, unspecified).
  const defaults = [...defaultsByMethod(request.defaults ?? []).values()];
  return [defaults.map((d) => d.service), defaults.map((d) => d.method), defaults.map((d) => d.maxAttempts), defaults.map((d) => d.timeoutMs)];
}

/** A leased row as the worker sees it. */
export function toClaimedJob(row: ClaimedRow): ClaimedJob {
  return {
    id: row.id,
    service: row.service,
    method: row.method,
    params: row.params,
    attempt: row.attempts,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    isolated: row.isolated,
    database: row.database,
    parents: row.parents,
  };
}
