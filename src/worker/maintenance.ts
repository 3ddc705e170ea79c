import { hostname } from 'node:os';
import type { Logger } from '../log/logger.ts';
import type { JobStore } from '../store/job-store.ts';

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
