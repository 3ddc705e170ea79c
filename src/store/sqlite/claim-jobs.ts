import type { ClaimedJob } from '../job-store.ts';
import type { Statements } from './statements.ts';

/**
 * Inside a BEGIN IMMEDIATE transaction: reads the jobs due first and leases
 * them to `request.owner` (registered on its first claim, migration 0008).
 * Two statements, a read and an update without RETURNING, measured cheaper
 * than one UPDATE … RETURNING (see queries.ts).
 */
export function claimJobs(s: Statements, request: { owner: string; limit: number; now: number; leaseUntil: number }): ClaimedJob[] {
  const rows = s.selectClaimable.all(request);
  if (rows.length === 0) return [];
  const { changes } = s.markClaimed.run({ owner: s.ownerId(request.owner), leaseUntil: request.leaseUntil, now: request.now, limit: request.limit });
  // The write lock is held from the read to the update: no other connection can change which jobs are due first.
  if (changes !== rows.length) throw new Error(`claim read ${rows.length} due jobs but leased ${changes}`);
  const claimed = new Array<ClaimedJob>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const [id, targetId, params, attempt, maxAttempts, timeoutMs] = rows[i]!;
    const { service, method } = s.target(targetId);
    claimed[i] = { id, service, method, params, attempt, maxAttempts, timeoutMs };
  }
  return claimed;
}
