import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Where a pid means something: the machine's boot and the pid namespace. Two
 * containers with host networking (or a fixed hostname) share a hostname but
 * not their pids; a pid is only worth checking with `kill(pid, 0)` from the
 * same boot of the same kernel and the same pid namespace. Undefined where
 * the system does not say (no /proc): then no owner is ever judged dead by
 * its pid, only by its heartbeat.
 */
function pidScopeOfThisProcess(): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().replaceAll('-', '').slice(0, 12);
    // "pid:[4026531836]": the namespace's inode, the same for every process in it.
    const namespace = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
    return boot !== '' && namespace !== undefined ? `${boot}.${namespace}` : undefined;
  } catch {
    return undefined;
  }
}

const THIS_SCOPE = pidScopeOfThisProcess();

/**
 * A lease owner's name: `host:pid:random@scope`, e.g.
 * `web-1:4711:3f9a0c1e@5b1e0f9c2a7d.4026531836`. Readable where it shows
 * (`jobs show`), unique per worker, and it says where its pid can be checked.
 * @param random tells workers of one process apart.
 */
export function ownerName(random: string, pid = process.pid, host = hostname(), scope = THIS_SCOPE): string {
  return `${host}:${pid}:${random}${scope === undefined ? '' : `@${scope}`}`;
}

/** The parts of an owner name: undefined for a name of another form. */
export function parseOwnerName(owner: string): { host: string; pid: number; scope: string | undefined } | undefined {
  const at = owner.lastIndexOf('@');
  const scope = at === -1 ? undefined : owner.slice(at + 1);
  const parts = (at === -1 ? owner : owner.slice(0, at)).split(':');
  if (parts.length < 3) return undefined;
  const pid = Number(parts[parts.length - 2]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  return { host: parts.slice(0, -2).join(':'), pid, scope };
}

/**
 * Whether the process that owns a lease is known to be gone: it ran where
 * this process's pids mean the same (same boot, same pid namespace) and its
 * pid no longer exists. Anything else (another host or container, an owner
 * name without a scope, a pid that exists even if reused by another program)
 * is left to its heartbeat.
 */
export function isOwnerDead(owner: string, scope = THIS_SCOPE): boolean {
  const parsed = parseOwnerName(owner);
  if (parsed === undefined || scope === undefined || parsed.scope !== scope || parsed.pid === process.pid) return false;
  try {
    process.kill(parsed.pid, 0);
    return false;
  } catch (error) {
    // EPERM: it exists but is not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** This process's scope (see {@link ownerName}), for tests and diagnostics. */
export function pidScope(): string | undefined {
  return THIS_SCOPE;
}
