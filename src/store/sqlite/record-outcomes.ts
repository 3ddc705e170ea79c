import type { Completion, Refusals } from '../job-store.ts';
import { MAX_COMPLETION_ROWS, STATE } from './queries.ts';
import type { Statements } from './statements.ts';

/**
 * Records outcomes in one transaction, fenced by lease owner and attempt:
 * see {@link recordOutcomes}. Almost always every success is accepted and
 * one update per batch is all it takes; when a batch finds a job its worker
 * no longer holds, the transaction is rolled back and run again, reading
 * first which ones were refused. Outcomes of jobs claimed from another
 * database (one deleted since) are `gone`: nothing of this file is touched for them.
 * @param database the identity of the file the transaction runs on.
 * @returns the result of `fn` and what was refused.
 */
export function recordOutcomesThen<T>(
  transaction: <R>(fn: (s: Statements) => R) => R,
  database: string,
  completions: readonly Completion[],
  fn: (s: Statements) => T,
): Refusals & { result: T } {
  let here = completions;
  const gone: number[] = [];
  if (completions.some((c) => c.database !== database)) {
    here = completions.filter((c) => c.database === database);
    for (const c of completions) if (c.database !== database) gone.push(c.id);
  }
  const run = (findRefused: boolean) => transaction((s) => ({ refused: recordOutcomes(s, here, findRefused), gone, result: fn(s) }));
  try {
    return run(false);
  } catch (error) {
    if (!(error instanceof RefusedInBatch)) throw error;
    return run(true);
  }
}

/** Thrown inside the transaction to roll it back: a batch of successes held refused ones, not yet known which. */
class RefusedInBatch extends Error {}

/**
 * Inside a transaction: records outcomes, fenced by lease owner and attempt.
 * Successes, the bulk of every batch, go in statements of up to 256 per
 * owner; the rest one by one.
 * @param findRefused whether to read which successes will be refused before
 *   recording them; without, a batch with any refused throws {@link RefusedInBatch}.
 * @returns the ids whose owner no longer held that attempt.
 */
function recordOutcomes(s: Statements, completions: readonly Completion[], findRefused: boolean): number[] {
  const refused: number[] = [];
  const succeeded = new Map<string, SucceededCompletion[]>();
  for (const c of completions) {
    if (c.outcome !== 'succeeded') continue;
    let batch = succeeded.get(c.owner);
    if (batch === undefined) succeeded.set(c.owner, (batch = []));
    batch.push(c);
  }
  for (const [name, batch] of succeeded) {
    const owner = s.knownOwnerId(name);
    for (let from = 0; from < batch.length; from += MAX_COMPLETION_ROWS) completeSucceeded(s, owner, batch.slice(from, from + MAX_COMPLETION_ROWS), refused, findRefused);
  }
  for (const c of completions) {
    if (c.outcome === 'succeeded') continue;
    const { name, message, stack = null } = c.error;
    const error = JSON.stringify(c.error);
    const held = { id: c.id, attempt: c.attempt, owner: s.knownOwnerId(c.owner) };
    let changes: number;
    if (c.outcome === 'failed') {
      s.recordAttemptError.run({ ...held, name, message, stack, at: c.at });
      changes = s.completeFailed.run({ ...held, error, at: c.at, retryAt: c.retryAt, isolate: c.isolate === true ? 1 : 0 }).changes;
    } else {
      changes = s.completeCancelled.run({ ...held, error, at: c.at }).changes;
    }
    if (changes === 0) refused.push(c.id);
    else s.flow.changed(STATE.running, [c.id]);
  }
  return refused;
}

type SucceededCompletion = Extract<Completion, { outcome: 'succeeded' }>;

/**
 * At most MAX_COMPLETION_ROWS successes of one owner, in one statement; the
 * ones the owner no longer holds are added to `refused` (see {@link recordOutcomes}).
 */
function completeSucceeded(s: Statements, owner: number | null, batch: readonly SucceededCompletion[], refused: number[], findRefused: boolean): void {
  const values = new Array<unknown>(batch.length * 4 + 1);
  for (let i = 0; i < batch.length; i++) {
    const c = batch[i]!;
    values[i * 4] = c.id;
    values[i * 4 + 1] = c.attempt;
    values[i * 4 + 2] = c.result;
    values[i * 4 + 3] = c.at;
  }
  values[batch.length * 4] = owner;
  const statements = s.successStatements(batch.length);
  // The read costs about 7% of the store's work per job (bench/store-variants.ts): it runs only on the second try.
  const gone = findRefused ? statements.refused.all(values) : [];
  const { changes } = statements.complete.run(values);
  if (changes + gone.length === batch.length) {
    for (const id of gone) refused.push(id);
    if (s.flow.inUse) {
      const refusedHere = new Set(gone);
      s.flow.changed(STATE.running, batch.map((c) => c.id).filter((id) => !refusedHere.has(id)));
    }
    return;
  }
  if (!findRefused) throw new RefusedInBatch();
  // Both ran under the same write lock, so they cannot disagree unless a batch held one id twice.
  throw new Error(`recording ${batch.length} successes changed ${changes} jobs with ${gone.length} refused; the batch must not repeat a job`);
}
