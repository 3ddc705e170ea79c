import { hostname } from 'node:os';
import type { Logger } from '../log/logger.ts';
import type { JobStore } from '../store/job-store.ts';

/** How long finished jobs are kept; null keeps them forever. */
export interface Retention {
  readonly succeededMs: number | null;
  /** Applies to failed and cancelled jobs. */
  readonly failedMs: number | null;
}

/** Rows deleted per transaction: small enough that pruning never holds up a claim for long. */
const PRUNE_BATCH = 500;

/** A lease owner id: `host:pid:random`. */
export function ownerId(random: string, pid = process.pid, host = hostname()): string {
  return `${host}:${pid}:${random}`;
}

/**
 * Whether the process that owns a lease is known to be gone: it ran on this
 * host and its pid no longer exists. Owners on other hosts, and pids that
 * exist (even if reused by another program), are left to lease expiry.
 */
export function isOwnerDead(owner: string, host = hostname()): boolean {
  const parts = owner.split(':');
  if (parts.length < 3 || parts.slice(0, -2).join(':') !== host) return false;
  const pid = Number(parts[parts.length - 2]);
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // EPERM: it exists but is not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Takes back the jobs of workers that died: at once when they ran on this
 * host and their process is gone, at lease expiry otherwise.
 * @returns how many jobs went back to waiting (or failed, out of attempts).
 */
export async function takeBackLostJobs(store: JobStore, now: number, log: Logger): Promise<number> {
  let recovered = 0;
  for (const owner of await store.runningOwners()) {
    if (!isOwnerDead(owner)) continue;
    const count = await store.abandon(owner, now, {
      name: 'WorkerLostError',
      message: `the worker process running this job (${owner}) died`,
    });
    if (count > 0) log.warn({ owner, jobs: count }, 'took back jobs of a worker process that died');
    recovered += count;
  }
  const expired = await store.recoverExpiredLeases(now);
  if (expired > 0) log.warn({ jobs: expired }, 'took back jobs whose worker stopped heart-beating');
  return recovered + expired;
}

/** Deletes finished jobs older than the retention, one batch per state per call. Returns how many. */
export async function pruneFinished(store: JobStore, now: number, retention: Retention): Promise<number> {
  let pruned = 0;
  if (retention.succeededMs !== null) pruned += await store.prune('succeeded', now - retention.succeededMs, PRUNE_BATCH);
  if (retention.failedMs !== null) {
    pruned += await store.prune('failed', now - retention.failedMs, PRUNE_BATCH);
    pruned += await store.prune('cancelled', now - retention.failedMs, PRUNE_BATCH);
  }
  return pruned;
}
