import type { Completion } from '../job-store.ts';
import type { Statements } from './statements.ts';

/**
 * Inside a transaction: records outcomes, fenced by lease owner. Successes,
 * the bulk of every batch, go in one statement per owner; the rest one by one.
 * @returns the ids whose owner no longer held the lease.
 */
export function recordOutcomes(s: Statements, completions: readonly Completion[]): number[] {
  const refused: number[] = [];
  const succeeded = new Map<string, [number, string, number][]>();
  for (const c of completions) {
    if (c.outcome !== 'succeeded') continue;
    let rows = succeeded.get(c.owner);
    if (rows === undefined) succeeded.set(c.owner, (rows = []));
    rows.push([c.id, c.result, c.at]);
  }
  for (const [owner, rows] of succeeded) {
    const accepted = s.completeSucceededMany.all({ owner, batch: JSON.stringify(rows) });
    if (accepted.length === rows.length) continue;
    const ok = new Set(accepted);
    for (const [id] of rows) if (!ok.has(id)) refused.push(id);
  }
  for (const c of completions) {
    if (c.outcome === 'succeeded') continue;
    const { name, message, stack = null } = c.error;
    const error = JSON.stringify(c.error);
    let changes: number;
    if (c.outcome === 'failed') {
      s.recordAttemptError.run({ id: c.id, owner: c.owner, name, message, stack, at: c.at });
      changes = s.completeFailed.run({ id: c.id, owner: c.owner, error, at: c.at, retryAt: c.retryAt }).changes;
    } else {
      changes = s.completeCancelled.run({ id: c.id, owner: c.owner, error, at: c.at }).changes;
    }
    if (changes === 0) refused.push(c.id);
  }
  return refused;
}
