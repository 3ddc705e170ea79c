import type { BenchSystem } from './types.ts';

/** Every system the benchmark knows, ours first. Peers are imported lazily: a missing one does not stop the others. */
export const SYSTEM_NAMES = ['ours', 'ours-postgres', 'plainjob', 'bullmq', 'graphile'] as const;

export async function loadSystem(name: string): Promise<BenchSystem> {
  switch (name) {
    case 'ours': return (await import('./ours.ts')).ours;
    case 'ours-postgres': return (await import('./ours-postgres.ts')).oursPostgres;
    case 'plainjob': return (await import('./plainjob.ts')).plainjob;
    case 'bullmq': return (await import('./bullmq.ts')).bullmq;
    case 'graphile': return (await import('./graphile.ts')).graphile;
    default: throw new Error(`unknown system "${name}"; known: ${SYSTEM_NAMES.join(', ')}`);
  }
}
