import type { BenchSystem } from './types.ts';

/** Every system the benchmark knows, ours first. Peers are imported lazily: a missing one does not stop the others. */
export const SYSTEM_NAMES = ['ours', 'ours-postgres', 'plainjob', 'bullmq', 'graphile', 'graphile-batched', 'pgboss'] as const;

export async function loadSystem(name: string): Promise<BenchSystem> {
  switch (name) {
    case 'ours': return (await import('./ours.ts')).ours;
    case 'ours-postgres': return (await import('./ours-postgres.ts')).oursPostgres;
    case 'plainjob': return loadPeer('./plainjob.ts', 'plainjob');
    case 'bullmq': return loadPeer('./bullmq.ts', 'bullmq');
    case 'graphile': return loadPeer('./graphile.ts', 'graphile');
    case 'graphile-batched': return loadPeer('./graphile.ts', 'graphileBatched');
    case 'pgboss': return loadPeer('./pgboss.ts', 'pgboss');
    default: throw new Error(`unknown system "${name}"; known: ${SYSTEM_NAMES.join(', ')}`);
  }
}

/**
 * A peer's adapter, imported by a path held in a variable: the peers are
 * installed by bench/package.json, not the top-level one, so the top-level
 * type check must not follow these imports (bench/tsconfig.json checks them).
 */
async function loadPeer(file: string, name: string): Promise<BenchSystem> {
  let module: Record<string, BenchSystem | undefined>;
  try {
    module = await import(file) as Record<string, BenchSystem | undefined>;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(`${(error as Error).message}; the peers are installed by \`npm --prefix bench ci\` (npm run bench does it on its first run)`, { cause: error });
    }
    throw error;
  }
  const system = module[name];
  if (system === undefined) throw new Error(`${file} has no export named "${name}"`);
  return system;
}
