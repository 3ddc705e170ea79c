import type { JobRecord, JobState, JobStore, PausedTarget } from '../../src/store/job-store.ts';

/** Most parents, and most dependants, a job's page lists with their states (one read each). */
export const RELATED_SHOWN = 50;

/** A parent or dependant of a job, as its page lists it. */
export interface RelatedJob {
  readonly id: number;
  /** `pruned`: retention deleted it. */
  readonly state: JobState | 'pruned';
  /** `service.method`; null once pruned. */
  readonly target: string | null;
}

/**
 * Why a job is waiting (or how it ended cancelled), one entry per cause,
 * each with the sentence the dashboard shows. A waiting job may have more
 * than one (its parents are unfinished and its target is paused).
 */
export type WaitReason =
  | { readonly kind: 'parents'; readonly waitingFor: number; readonly text: string }
  | { readonly kind: 'concurrency'; readonly key: string; readonly limit: number; readonly text: string }
  | { readonly kind: 'paused'; readonly target: string; readonly text: string }
  | { readonly kind: 'parent-ended'; readonly parent: number; readonly parentState: JobState | 'pruned'; readonly text: string };

/** What `GET /api/jobs/{id}` adds about a job's place in a workflow. */
export interface JobFlow {
  /** Its parents in the order it named them: at most {@link RELATED_SHOWN}; `parentsTotal` says how many there are. */
  readonly parents: readonly RelatedJob[];
  readonly parentsTotal: number;
  /** The jobs that run after it, oldest first: at most {@link RELATED_SHOWN}. */
  readonly dependants: readonly RelatedJob[];
  readonly dependantsTotal: number;
  readonly why: readonly WaitReason[];
}

/** `service.method`, or `service` for a whole paused service. */
export function targetText(target: { readonly service: string; readonly method: string | null }): string {
  return target.method === null ? target.service : `${target.service}.${target.method}`;
}

/** The paused entries that hold back jobs of `service.method`: the method's own, then its whole service's. */
export function pausedCovering(paused: readonly PausedTarget[], service: string, method: string): PausedTarget[] {
  return paused
    .filter((p) => p.service === service && (p.method === null || p.method === method))
    .sort((a, b) => (a.method === null ? 1 : 0) - (b.method === null ? 1 : 0));
}

async function related(store: JobStore, id: number): Promise<RelatedJob> {
  const job = await store.getJob(id);
  return job === undefined ? { id, state: 'pruned', target: null } : { id, state: job.state, target: `${job.service}.${job.method}` };
}

/**
 * Why `job` waits: unfinished parents, a full concurrency key, a paused
 * target (judged from the paused list, not the job's `held` flag: a job
 * added since the pause is held only once a claim meets it, and is no less
 * held back before); or, for a job a parent's failure cancelled, which.
 */
export function waitReasons(job: JobRecord, paused: readonly PausedTarget[], parentState: (id: number) => JobState | 'pruned'): WaitReason[] {
  const why: WaitReason[] = [];
  if (job.state === 'waiting') {
    if (job.waitingFor > 0) {
      why.push({ kind: 'parents', waitingFor: job.waitingFor, text: `waiting for ${job.waitingFor} parent${job.waitingFor === 1 ? '' : 's'}` });
    }
    if (job.parked && job.concurrency !== null) {
      const { key, limit } = job.concurrency;
      why.push({ kind: 'concurrency', key, limit, text: `its concurrency key "${key}" is full (limit ${limit})` });
    }
    for (const p of pausedCovering(paused, job.service, job.method)) {
      const target = targetText(p);
      why.push({ kind: 'paused', target, text: `its target ${target} is paused` });
    }
  } else if (job.state === 'cancelled' && job.cancelledBy !== null) {
    const state = parentState(job.cancelledBy);
    // The parent's state now: failed or cancelled, unless it was pruned since (a retry would have brought this job back).
    const ended = state === 'failed' || state === 'cancelled' ? state : 'ended without success';
    why.push({ kind: 'parent-ended', parent: job.cancelledBy, parentState: state, text: `cancelled because parent #${job.cancelledBy} ${ended}` });
  }
  return why;
}

/** A job's parents and dependants with their states, and why it waits. */
export async function jobFlow(store: JobStore, job: JobRecord): Promise<JobFlow> {
  const [dependantIds, paused] = await Promise.all([store.dependantsOf(job.id), job.state === 'waiting' ? store.listPaused() : Promise.resolve([])]);
  const [parents, dependants] = await Promise.all([
    Promise.all(job.after.slice(0, RELATED_SHOWN).map((id) => related(store, id))),
    Promise.all(dependantIds.slice(0, RELATED_SHOWN).map((id) => related(store, id))),
  ]);
  const states = new Map(parents.map((p) => [p.id, p.state]));
  let cancelledByState: JobState | 'pruned' | undefined;
  if (job.cancelledBy !== null && !states.has(job.cancelledBy)) cancelledByState = (await related(store, job.cancelledBy)).state;
  const why = waitReasons(job, paused, (id) => states.get(id) ?? cancelledByState ?? 'pruned');
  return { parents, parentsTotal: job.after.length, dependants, dependantsTotal: dependantIds.length, why };
}
