import type pg from 'pg';
import type { AttemptRef, OwnerBeat, RunningJob } from '../job-store.ts';
import { databaseId, NOW_MS, STATE, type Schema } from './schema.ts';

/* What the store knows of the workers holding jobs: beats and what each runs. */

export interface OwnerStatements {
  readonly heartbeat: string;
  readonly ownerBeats: string;
  readonly runningJobs: string;
  readonly cancelRequests: string;
}

export function ownerStatements(s: Schema): OwnerStatements {
  const ofOwner = `${s.q}.jobs j JOIN ${s.q}.owners o ON o.id = j.lease_owner WHERE o.name = $1 AND j.state = ${STATE.running}`;
  return {
    // The beat grows whether or not the worker still holds anything; the answer is which of `held` it lost.
    heartbeat: `
      WITH beat AS (
        UPDATE ${s.q}.owners SET beat = beat + 1, beat_at = ${NOW_MS} WHERE name = $1 RETURNING id
      )
      SELECT i.ord FROM unnest($2::bigint[], $3::integer[], $4::text[]) WITH ORDINALITY AS i(id, attempt, db, ord)
       WHERE i.db IS DISTINCT FROM ${databaseId(s)}
          OR NOT EXISTS (SELECT 1 FROM ${s.q}.jobs j, beat b
                          WHERE j.id = i.id AND j.lease_owner + 0 = b.id AND j.attempts = i.attempt AND j.state = ${STATE.running})`,
    ownerBeats: `
      SELECT o.name AS owner, o.beat FROM ${s.q}.owners o
       WHERE EXISTS (SELECT 1 FROM ${s.q}.jobs j WHERE j.state = ${STATE.running} AND j.lease_owner = o.id)
       ORDER BY o.id`,
    runningJobs: `
      SELECT j.id, j.attempts AS attempt, ${databaseId(s)} AS database, j.max_attempts AS "maxAttempts", j.started_at AS "startedAt", j.timeout_ms AS "timeoutMs"
        FROM ${ofOwner} ORDER BY j.id`,
    cancelRequests: `SELECT j.id FROM ${ofOwner} AND j.cancel_requested ORDER BY j.id`,
  };
}

/** Renews `owner`'s leases (its beat grows) and returns the attempts of `held` it no longer holds. */
export async function heartbeat(client: pg.ClientBase, sql: OwnerStatements, owner: string, held: readonly AttemptRef[]): Promise<AttemptRef[]> {
  const { rows } = await client.query<{ ord: number }>({
    name: 'heartbeat',
    text: sql.heartbeat,
    values: [owner, held.map((a) => a.id), held.map((a) => a.attempt), held.map((a) => a.database)],
  });
  return rows.map(({ ord }) => held[ord - 1]!);
}

export async function ownerBeats(client: pg.ClientBase, sql: OwnerStatements): Promise<OwnerBeat[]> {
  return (await client.query<OwnerBeat>({ name: 'owner-beats', text: sql.ownerBeats })).rows;
}

export async function runningJobs(client: pg.ClientBase, sql: OwnerStatements, owner: string): Promise<RunningJob[]> {
  return (await client.query<RunningJob>({ name: 'running-jobs', text: sql.runningJobs, values: [owner] })).rows;
}

export async function cancelRequests(client: pg.ClientBase, sql: OwnerStatements, owner: string): Promise<number[]> {
  return (await client.query<{ id: number }>({ name: 'cancel-requests', text: sql.cancelRequests, values: [owner] })).rows.map((r) => r.id);
}
