import { InvalidArgumentError } from '../errors.ts';
import type { NewJob, ParentOutcome } from './job-store.ts';

/* A new job's `after` (NewJob.after) as both stores read it, and whether it needs their bookkeeping of waits and keys. */

/** Whether a new job waits for others. */
export function hasParents(job: NewJob): boolean {
  return job.after !== undefined && job.after.length > 0;
}

/**
 * Whether adding `job` needs the bookkeeping of jobs that wait and of
 * concurrency keys (SQLite's TEMP triggers, PostgreSQL's row triggers), which
 * both stores make only once a database uses either.
 */
export function needsFlowTriggers(job: NewJob): boolean {
  return hasParents(job) || (job.concurrency !== undefined && job.concurrency !== null);
}

/** `job.after` as parent ids, each once, in order; entries of the same call by their ids. */
export function resolveParents(job: NewJob, database: string, earlier: readonly number[]): number[] {
  const ids: number[] = [];
  for (const ref of job.after ?? []) {
    let id: number;
    if ('entry' in ref) {
      if (!Number.isInteger(ref.entry) || ref.entry < 0 || ref.entry >= earlier.length) {
        throw new InvalidArgumentError(`after: { entry: ${ref.entry} } must name an earlier entry of the same call (0 to ${earlier.length - 1})`);
      }
      id = earlier[ref.entry]!;
    } else {
      if (ref.database !== undefined && ref.database !== database) {
        throw new InvalidArgumentError(`after: job ${ref.id} is from another jobs database (deleted or replaced since), not this one`);
      }
      id = ref.id;
    }
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

/** `addJob` adds one job: `{ entry }` names an entry of an `addJobs` call, and there is none. */
export function refuseEntryRefs(job: NewJob): void {
  if (job.after?.some((ref) => 'entry' in ref) === true) {
    throw new InvalidArgumentError('after: `{ entry }` names an earlier entry of the same addMany call; a single add has none (give a job handle or id)');
  }
}

/**
 * What a retry of job `id`, which runs after `parents`, waits for: the
 * parents still waiting or running (their count). It never runs before
 * them, as it never did before it ended. A parent pruned since is not
 * waited for.
 * @throws InvalidArgumentError when a parent failed or was cancelled and the
 *   job does not run whatever its parents do: it would wait for good.
 *   Retrying that parent brings its dependants back with it.
 */
export function parentsToWaitFor(id: number, parents: readonly Pick<ParentOutcome, 'id' | 'state'>[], runAnyway: boolean): number {
  let waitFor = 0;
  for (const parent of parents) {
    if (parent.state === 'waiting' || parent.state === 'running') waitFor++;
    else if ((parent.state === 'failed' || parent.state === 'cancelled') && !runAnyway) {
      throw new InvalidArgumentError(
        `job ${id} cannot be retried: it runs after job ${parent.id}, which ${parent.state === 'failed' ? 'failed' : 'was cancelled'}; retry job ${parent.id} instead, and the jobs its end cancelled come back with it`,
      );
    }
  }
  return waitFor;
}
