import type { Completion } from '../job-store.ts';
import { COMPLETION_BATCH_SIZES } from './queries.ts';
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
    for (let from = 0; from < batch.length; from += LARGEST) {
      const part = batch.slice(from, from + LARGEST);
      const accepted = completeSucceeded(s, owner, part);
      if (accepted.length === part.length) continue;
      const ok = new Set(accepted);
      for (const c of part) if (!ok.has(c.id)) refused.push(c.id);
    }
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

const LARGEST = COMPLETION_BATCH_SIZES[COMPLETION_BATCH_SIZES.length - 1]!;

/** At most LARGEST successes of one owner, in the smallest prepared statement that holds them. */
function completeSucceeded(s: Statements, owner: string, batch: readonly SucceededCompletion[]): number[] {
  const size = COMPLETION_BATCH_SIZES.findIndex((rows) => rows >= batch.length);
  const rows = COMPLETION_BATCH_SIZES[size]!;
  const values = new Array<unknown>(rows * 3 + 1).fill(null);
  for (let i = 0; i < batch.length; i++) {
    const c = batch[i]!;
    values[i * 3] = c.id;
    values[i * 3 + 1] = c.result;
    values[i * 3 + 2] = c.at;
  }
  values[rows * 3] = owner;
  return s.completeSucceeded[size]!.all(values);
}
