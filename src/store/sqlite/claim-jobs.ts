import { defaultsByMethod, methodKey, type ClaimedJob, type ClaimRequest, type MethodDefaults } from '../job-store.ts';
import { parkOverLimit } from './concurrency-keys.ts';
import { flowsOf, type ClaimFlow } from './job-flow.ts';
import { holdPaused } from './pause.ts';
import { STATE } from './queries.ts';
import { deferOverRate } from './rate-limits.ts';
import type { ClaimedRow, Statements } from './statements.ts';

/**
 * Inside a BEGIN IMMEDIATE transaction: reads the jobs due first and leases
 * them to `request.owner` (registered on its first claim, migration 0008).
 * Two statements, a read and an update without RETURNING, measured cheaper
 * than one UPDATE … RETURNING (see queries.ts).
 *
 * Isolated jobs (migration 0009) run alone: a worker running other jobs asks
 * with `skip` and never sees them; an idle worker asks with `alone` and takes
 * the due jobs in order up to the first isolated one, or that one alone if it
 * comes first.
 *
 * Of workflows and limits the read takes the flag only (migration 0017): the
 * job_flow rows of flagged jobs are looked up after it, and a claim of plain
 * jobs reads none.
 */
export function claimJobs(s: Statements, request: ClaimRequest, database: string): ClaimedJob[] {
  const alone = request.isolated === 'alone';
  let rows: ClaimedRow[];
  let flows: ReadonlyMap<number, ClaimFlow> | undefined;
  for (;;) {
    rows = (alone ? s.selectClaimableAny : s.selectClaimable).all(request);
    if (rows.length === 0) return [];
    if (alone) rows = upToIsolated(rows);
    // Keyed jobs over their key's limit are parked (migration 0012); the rows read then differ from what the mark
    // below would lease, so the claim reads again. Each pass parks a key's due jobs for good: few passes.
    // Jobs of a paused target (migration 0014) are held likewise.
    if (holdPaused(s, rows)) continue;
    flows = flowsOf(s, rows);
    if (flows === undefined) break;
    if (isKeyed(flows) && parkOverLimit(s.concurrency, rows, flows, request.now)) continue;
    // Rate-limited jobs over their name's limit move to their slots (migration 0015); the last pass logs the starts.
    if (!isRateLimited(flows) || !deferOverRate(s.rate, rows, flows, request.now)) break;
  }
  const mark = alone ? s.markClaimedAny : s.markClaimed;
  const owner = s.ownerId(request.owner);
  const { changes } = mark.run({ owner, now: request.now, limit: rows.length });
  // The write lock is held from the read to the update: no other connection can change which jobs are due first.
  if (changes !== rows.length) throw new Error(`claim read ${rows.length} due jobs but leased ${changes}`);
  if (flows !== undefined) s.flow.changed(STATE.waiting, [...flows.keys()]);
  let defaults: Map<string, MethodDefaults> | undefined; // made for the first job that needs it
  const claimed = new Array<ClaimedJob>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const [id, targetId, params, attempt, storedMaxAttempts, storedTimeoutMs, isolated] = rows[i]!;
    const parents = flows?.get(id)?.parents ?? 0;
    const { service, method } = s.target(targetId);
    let maxAttempts = storedMaxAttempts;
    let timeoutMs = storedTimeoutMs;
    const found = request.defaults?.length && (maxAttempts === 0 || timeoutMs === null)
      ? (defaults ??= defaultsByMethod(request.defaults)).get(methodKey(service, method))
      : undefined;
    if (found !== undefined) {
      // Recorded in the claim's transaction: never leased without them (see ClaimRequest.defaults).
      maxAttempts = maxAttempts === 0 ? found.maxAttempts : maxAttempts;
      timeoutMs = timeoutMs ?? found.timeoutMs;
      if (maxAttempts !== storedMaxAttempts || timeoutMs !== storedTimeoutMs) s.applyDefaults.run({ id, attempt, owner, maxAttempts, timeoutMs });
    }
    claimed[i] = { id, service, method, params, attempt, maxAttempts, timeoutMs, isolated: isolated === 1, database, parents };
  }
  return claimed;
}

function isRateLimited(flows: ReadonlyMap<number, ClaimFlow>): boolean {
  for (const flow of flows.values()) if (flow.rateLimit !== null) return true;
  return false;
}

function isKeyed(flows: ReadonlyMap<number, ClaimFlow>): boolean {
  for (const flow of flows.values()) if (flow.concurrencyKey !== null) return true;
  return false;
}

/** The rows before the first isolated one, or that one alone if it is first. */
function upToIsolated(rows: ClaimedRow[]): ClaimedRow[] {
  const first = rows.findIndex((row) => row[6] === 1);
  if (first === -1) return rows;
  return first === 0 ? rows.slice(0, 1) : rows.slice(0, first);
}
