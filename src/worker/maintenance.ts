import type { Logger } from '../log/logger.ts';
import type { JobStore } from '../store/job-store.ts';
import { isOwnerDead } from './owner-identity.ts';

/** How long finished jobs are kept; null keeps them forever. */
export interface Retention {
  readonly succeededMs: number | null;
  /** Applies to failed and cancelled jobs. */
  readonly failedMs: number | null;
}

/**
 * Per heartbeat (10 s with the default lease): two windows of the sweep
 * (20,000 job ids read, about a millisecond of work, so an idle worker over a
 * large table stays idle), and up to 10 transactions of 500 deletions, few
 * enough that pruning never holds up a claim for long: a worker can delete
 * 500 expired jobs a second.
 */
const PRUNE_BUDGET = { batch: 500, batches: 10, windows: 2 };

/**
 * Finds the workers that stopped renewing their leases, by watching their
 * heartbeat counts ({@link JobStore.ownerBeats}) on this process's
 * monotonic clock: an owner whose count has not moved for `leaseMs` since
 * this watcher first saw it at that count has stopped, whatever any wall
 * clock says. A wall-clock step (NTP, a VM resumed, `date -s`) therefore
 * takes no live worker's jobs; a watcher that just started waits a lease's
 * length before it judges anyone, unless the owner's pid is gone here.
 */
export class BeatWatch {
  readonly #leaseMs: number;
  readonly #monotonic: () => number;
  /** Per owner: the beat last seen, and when (monotonic) it was first seen at that beat. */
  #seen = new Map<string, { beat: number; since: number }>();

  constructor(leaseMs: number, monotonic: () => number) {
    this.#leaseMs = leaseMs;
    this.#monotonic = monotonic;
  }

  /**
   * Takes back the jobs of workers that died: at once when their process is
   * known to be gone (same host and pid namespace, pid gone), once their beat
   * stood still for a lease's length otherwise.
   * @param self this worker's owner name, never judged.
   * @returns how many jobs went back to waiting (or failed, out of attempts).
   */
  async takeBackLostJobs(store: JobStore, self: string, now: number, log: Logger): Promise<number> {
    const at = this.#monotonic();
    const seen = new Map<string, { beat: number; since: number }>();
    let recovered = 0;
    for (const { owner, beat } of await store.ownerBeats()) {
      if (owner === self) continue;
      if (isOwnerDead(owner)) {
        const count = await store.abandon(owner, now, { name: 'WorkerLostError', message: `the worker process running this job (${owner}) died` });
        if (count > 0) log.warn({ owner, jobs: count }, 'took back jobs of a worker process that died');
        recovered += count;
        continue;
      }
      const last = this.#seen.get(owner);
      const since = last !== undefined && last.beat === beat ? last.since : at;
      if (at - since < this.#leaseMs) {
        seen.set(owner, { beat, since });
        continue;
      }
      const count = await store.abandon(owner, now, {
        name: 'LeaseExpiredError',
        message: `the worker running this job (${owner}) stopped renewing its lease: no heartbeat for ${Math.round((at - since) / 1000)} s`,
      }, { beat });
      if (count > 0) log.warn({ owner, jobs: count }, 'took back jobs of a worker that stopped heart-beating');
      recovered += count;
    }
    // Only owners still holding jobs are remembered: the map never outgrows the workers alive.
    this.#seen = seen;
    return recovered;
  }
}

/**
 * Deletes finished jobs older than the retention: part of the store's sweep
 * (see {@link JobStore.prune}). Called every heartbeat.
 * @returns how many jobs it deleted.
 */
export async function pruneFinished(store: JobStore, now: number, retention: Retention): Promise<number> {
  if (retention.succeededMs === null && retention.failedMs === null) return 0;
  return store.prune({
    succeededBefore: retention.succeededMs === null ? null : now - retention.succeededMs,
    failedBefore: retention.failedMs === null ? null : now - retention.failedMs,
  }, PRUNE_BUDGET);
}
