import type pg from 'pg';
import type { ClaimedJob, ClaimRequest, Completion, Refusals } from '../job-store.ts';
import { archive, flowRow } from './archive-jobs.ts';
import { claimJobs, claimParts, defaultsValues, setAside, toClaimedJob, type ClaimedRow, type ClaimHint, type ClaimPath, type ClaimPaths, type ClaimStatements } from './claim-jobs.ts';
import { databaseId, NOW_MS, STATE, type Schema } from './schema.ts';

const KIND = { succeeded: 0, failed: 1, cancelled: 2 } as const;

/**
 * Records a batch of outcomes in one statement, whatever their kinds, each
 * fenced: it changes its job only if the job is running, leased to the
 * completion's owner (by id: an owner forgotten and registered again has
 * another), at the completion's attempt, in the completion's database.
 * `held` locks exactly those rows (FOR UPDATE re-checks the fence against
 * the newest version of a row another transaction changed meanwhile), and
 * every change below goes through it, so a late writer changes nothing.
 *
 * A finished job moves to finished_jobs (out of the claim path); a failed
 * attempt with attempts left goes back to waiting after its delay, by the
 * database's clock; a job someone asked to cancel ends cancelled.
 */
export function recordOutcomesStatement(s: Schema): string {
  return `WITH ${outcomeParts(s)}
    SELECT ${databaseId(s)} AS database, ARRAY(SELECT id FROM held) AS held`;
}

/**
 * Outcomes and a claim in one statement (one round trip, one commit, no
 * transaction held open between them): what a worker sends as its jobs
 * finish. Both see the same snapshot and touch different rows (the
 * outcomes running jobs, the claim waiting ones), so a job an outcome puts
 * back to waiting is not claimed by the same statement. The claim's
 * owner and limit are `$10` and `$11`, its defaults `$12`–`$15`; the leased
 * jobs come back as rows after the outcomes' row. A plain and a full claim, as for a claim alone ({@link ClaimPaths}).
 */
export function outcomesAndClaimStatements(s: Schema): ClaimPaths {
  const statements = (path: ClaimPath): ClaimStatements => {
    const claim = claimParts(s, { owner: '$10', limit: '$11', defaults: 12 }, path);
    // The first row tells the outcomes and the claim's state (its id is NULL); one row follows per leased job.
    // Rows, not the leased jobs aggregated into JSON: json_agg looked up each column's type for every job, ~18k
    // server instructions a job of 100 claimed (bench/pg-instructions.sh). Append returns its branches in order.
    const select = `
    SELECT NULL::bigint AS id, NULL::text AS service, NULL::text AS method, NULL::text AS params, NULL::integer AS attempts,
           NULL::integer AS max_attempts, NULL::bigint AS timeout_ms, NULL::boolean AS isolated, NULL::integer AS parents,
           ${databaseId(s)} AS database, ARRAY(SELECT id FROM held) AS held, ${setAside(path)}::bigint AS set_aside,
           (SELECT yes FROM limited) AS limited
    UNION ALL
    (SELECT id, service, method, params, attempts, max_attempts, timeout_ms, isolated, COALESCE(parents, 0), NULL, NULL, NULL, NULL
       FROM leased ORDER BY priority DESC, run_at, id)`;
    return {
      skip: `WITH ${outcomeParts(s)}, ${claim.skip}${select}`,
      alone: `WITH ${outcomeParts(s)}, ${claim.alone}${select}`,
    };
  };
  return { plain: statements('plain'), full: statements('full') };
}

/** The outcome statement's common table expressions, without the leading WITH. */
function outcomeParts(s: Schema): string {
  return `
    input AS (
      SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::text[], $5::smallint[], $6::text[], $7::text[], $8::bigint[], $9::boolean[])
        AS t(id, attempt, owner, db, kind, result, error, delay, isolate)
    ), held AS MATERIALIZED (
      SELECT j.id, i.attempt, i.kind, i.result, i.error, i.delay, i.isolate,
             CASE WHEN i.kind = ${KIND.succeeded} THEN ${STATE.succeeded}
                  WHEN i.kind = ${KIND.cancelled} OR j.cancel_requested THEN ${STATE.cancelled}
                  WHEN i.delay IS NULL THEN ${STATE.failed}
                  ELSE ${STATE.waiting} END AS next_state
        FROM input i
        JOIN ${s.q}.owners o ON o.name = i.owner
        JOIN ${s.q}.jobs j ON j.id = i.id AND j.lease_owner + 0 = o.id AND j.attempts = i.attempt AND j.state = ${STATE.running}
       WHERE i.db = ${databaseId(s)}
       -- \`lease_owner + 0\`: each job is found by primary key; the planner otherwise walked the owner's running jobs
       -- once per entry of the batch when its statistics were stale. Rows locked in id order, as every statement here that locks several jobs does: no deadlock between them.
       ORDER BY j.id
         FOR UPDATE OF j
    ), errors AS (
      INSERT INTO ${s.q}.job_errors (job_id, attempt, name, message, stack, at)
      SELECT id, attempt, e->>'name', e->>'message', e->>'stack', ${NOW_MS}
        FROM (SELECT id, attempt, error::json AS e FROM held WHERE kind = ${KIND.failed}) failed
    ), requeued AS (
      UPDATE ${s.q}.jobs j
         SET state = ${STATE.waiting}, run_at = ${NOW_MS} + h.delay, lease_owner = NULL, error = h.error,
             isolated = j.isolated OR h.isolate
        FROM held h
       WHERE j.id = h.id AND h.next_state = ${STATE.waiting}
    ), moved AS (
      DELETE FROM ${s.q}.jobs j USING held h
       WHERE j.id = h.id AND h.next_state <> ${STATE.waiting}
      RETURNING j.*, ${flowRow(s, 'j')}, h.next_state, h.result AS new_result, h.error AS new_error, h.isolate AS new_isolate
    ), archived AS (
      ${archive(s, 'moved', {
        state: 'next_state',
        finished_at: NOW_MS,
        result: `CASE WHEN next_state = ${STATE.succeeded} THEN new_result END`,
        error: `CASE WHEN next_state = ${STATE.succeeded} THEN error ELSE new_error END`,
        // The mark stays with the job, as on SQLite: what blocked its process once may again, if it is retried.
        isolated: 'isolated OR new_isolate',
      })}
    )`;
}

/** Records `completions` (one statement, committing by itself) and tells which were refused or gone. */
export async function recordOutcomes(client: Queryable, sql: string, completions: readonly Completion[]): Promise<Refusals> {
  if (completions.length === 0) return { refused: [], gone: [] };
  const { rows } = await client.query<OutcomeRow>({ name: 'record-outcomes', text: sql, values: outcomeValues(completions) });
  return refusalsOf(rows[0]!, completions);
}

/**
 * Records `completions` and claims by `request`, in one statement (see
 * {@link outcomesAndClaimStatements}), the claim `hint` names; claims
 * again, without the outcomes, when a plain claim met limits or a full one
 * set candidates aside.
 */
export async function recordOutcomesAndClaim(
  client: Queryable, sql: ClaimPaths, claimSql: ClaimPaths, completions: readonly Completion[], request: ClaimRequest, hint: ClaimHint,
): Promise<Refusals & { claimed: ClaimedJob[] }> {
  const path = hint.path;
  const values = [...outcomeValues(completions), request.owner, Math.max(0, request.limit), ...defaultsValues(request)];
  const { rows } = await client.query<(OutcomeRow & { id: null; set_aside: number; limited: boolean }) | (Omit<ClaimedRow, 'database'> & { database: null })>(
    { name: `record-outcomes-claim-${path}-${request.isolated}`, text: sql[path][request.isolated], values });
  const row = rows.find((r) => r.id === null) as OutcomeRow & { set_aside: number; limited: boolean };
  hint.limited = row.limited;
  const claimed: ClaimedJob[] = [];
  for (const r of rows) if (r.id !== null) claimed.push(toClaimedJob({ ...r, database: row.database }));
  // A plain claim that met limits leased nothing; candidates a full one held or parked took places in it.
  // Either way the jobs behind them are claimed now, not at the next poll.
  const again = path === 'plain' ? row.limited : Number(row.set_aside) > 0;
  if (again && claimed.length < request.limit && !claimed.some((job) => job.isolated)) {
    claimed.push(...(await claimJobs(client, claimSql, { ...request, limit: request.limit - claimed.length, isolated: claimed.length > 0 ? 'skip' : request.isolated }, hint)));
  }
  return { ...refusalsOf(row, completions), claimed };
}

/** What can run a query: a pooled client, or the store's write pipeline. */
type Queryable = Pick<pg.ClientBase, 'query'>;

interface OutcomeRow {
  database: string;
  held: number[];
}

/** The statement's nine parallel arrays, one entry per completion. */
function outcomeValues(completions: readonly Completion[]): unknown[][] {
  const n = completions.length;
  const columns = Array.from({ length: 9 }, () => new Array<unknown>(n));
  for (let i = 0; i < n; i++) {
    const c = completions[i]!;
    columns[0]![i] = c.id;
    columns[1]![i] = c.attempt;
    columns[2]![i] = c.owner;
    columns[3]![i] = c.database;
    columns[4]![i] = KIND[c.outcome];
    columns[5]![i] = c.outcome === 'succeeded' ? c.result : null;
    columns[6]![i] = c.outcome === 'succeeded' ? null : JSON.stringify(c.error);
    // The caller's retry time is kept as a delay from its `at`, and applied to the database's clock.
    columns[7]![i] = c.outcome === 'failed' && c.retryAt !== null ? Math.max(0, Math.round(c.retryAt - c.at)) : null;
    columns[8]![i] = c.outcome === 'failed' && c.isolate === true;
  }
  return columns;
}

function refusalsOf({ database, held }: OutcomeRow, completions: readonly Completion[]): Refusals {
  const recorded = new Set(held);
  const refusals: Refusals = { refused: [], gone: [] };
  for (const c of completions) {
    if (c.database !== database) refusals.gone.push(c.id);
    else if (!recorded.has(c.id)) refusals.refused.push(c.id);
  }
  return refusals;
}
