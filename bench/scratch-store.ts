import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresStore, SqliteStore } from '../src/index.ts';
import type { ClaimedJob, Completion, JobStore } from '../src/store/job-store.ts';
import { CONNECTION_STRING, dropSchema } from './systems/postgres-server.ts';

/**
 * A store on a scratch database for a store-level benchmark: a SQLite file in a temp folder, or a PostgreSQL
 * schema of its own on the benchmark's server (bench/systems/postgres-server.ts, `BENCH_PG_URL`). `dispose` closes
 * it and deletes the file or drops the schema.
 */
export async function openScratchStore(kind: string, name: string): Promise<{ store: JobStore; dispose: () => Promise<void> }> {
  if (kind === 'postgres') {
    const schema = `bench_${name}_${process.pid}_${Date.now()}`;
    const store = await PostgresStore.open({ url: CONNECTION_STRING, schema });
    return { store, dispose: async () => { await store.close(); await dropSchema(schema); } };
  }
  if (kind !== 'sqlite') throw new Error(`store kind "${kind}": expected sqlite or postgres`);
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const store = SqliteStore.open({ path: join(dir, 'jobs.db') });
  return { store, dispose: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/**
 * Claims and completes every due job through `completeAndClaim`, `batch` at a time, as a worker does (each batch's
 * successes go with the next claim); `first`: jobs already claimed, completed with the first claim. Returns how many
 * jobs it completed, `first` included.
 */
export async function drainAll(store: JobStore, owner: string, batch: number, first: readonly ClaimedJob[] = []): Promise<number> {
  const succeeded = (jobs: readonly ClaimedJob[]): Completion[] =>
    jobs.map((job) => ({ id: job.id, attempt: job.attempt, database: job.database, owner, outcome: 'succeeded', result: null, at: Date.now() }));
  let done = first.length;
  let previous = succeeded(first);
  for (;;) {
    const { claimed } = await store.completeAndClaim(previous, { owner, limit: batch, now: Date.now(), isolated: 'skip' });
    if (claimed.length === 0) break;
    done += claimed.length;
    previous = succeeded(claimed);
  }
  await store.complete(previous);
  return done;
}
