import type { Completion } from '../job-store.ts';
import { MAX_COMPLETION_ROWS } from './queries.ts';
import type { Statements } from './statements.ts';

/**
 * Inside a transaction: records outcomes, fenced by lease owner. Successes,
 * the bulk of every batch, go in statements of up to 256 per owner; the rest one by one.
 * @returns the ids whose owner no longer held the lease.
 */
export function recordOutcomes(s: Statements, completions: readonly Completion[]): number[] {
  const refused: number[] = [];
  const succeeded = new Map<string, SucceededCompletion[]>();
  for (const c of completions) {
    if (c.outcome !== 'succeeded') continue;
    let batch = succeeded.get(c.owner);
    if (batch === undefined) succeeded.set(c.owner, (batch = []));
    batch.push(c);
  }
  for (const [owner, batch] of succeeded) {
    for (let from = 0; from < batch.length; from += MAX_COMPLETION_ROWS) completeSucceeded(s, owner, batch.slice(from, from + MAX_COMPLETION_ROWS), refused);
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

type SucceededCompletion = Extract<Completion, { outcome: 'succeeded' }>;

/**
 * At most MAX_COMPLETION_ROWS successes of one owner, in one statement; the
 * ones the owner no longer holds are added to `refused`.
 */
function completeSucceeded(s: Statements, owner: string, batch: readonly SucceededCompletion[], refused: number[]): void {
  const values = new Array<unknown>(batch.length * 3 + 1);
  for (let i = 0; i < batch.length; i++) {
    const c = batch[i]!;
    values[i * 3] = c.id;
    values[i * 3 + 1] = c.result;
    values[i * 3 + 2] = c.at;
  }
  values[batch.length * 3] = owner;
  const statements = s.successStatements(batch.length);
  const gone = statements.refused.all(values);
  const { changes } = statements.complete.run(values);
  // Both run under the same write lock, so they cannot disagree unless a batch held one id twice.
  if (changes + gone.length !== batch.length) {
    throw new Error(`recording ${batch.length} successes changed ${changes} jobs with ${gone.length} refused; the batch must not repeat a job`);
  }
  for (const id of gone) refused.push(id);
}
