import { parseOwnerName } from '../worker/owner-identity.ts';
import type { WorkerInfo } from './job-store.ts';

/* What every store shares in JobStore.stats and JobStore.workers. */

/** The window of `JobStats.failuresLastHour`: the hour before `JobStats.at`. */
export const STATS_WINDOW_MS = 3_600_000;

/** A {@link WorkerInfo} from a store's row: host and pid read from the owner name. */
export function workerInfo(owner: string, runningJobs: number, lastHeartbeatAt: number | null, heartbeatAgeMs: number | null): WorkerInfo {
  const parsed = parseOwnerName(owner);
  return { owner, host: parsed?.host ?? null, pid: parsed?.pid ?? null, runningJobs, lastHeartbeatAt, heartbeatAgeMs };
}
