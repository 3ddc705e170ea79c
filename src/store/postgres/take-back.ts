import type pg from 'pg';
import { DEFAULT_MAX_ATTEMPTS, type AttemptRef, type JobErrorInfo } from '../job-store.ts';
import { archive, flowRow } from './archive-jobs.ts';
import { databaseId, NOW_MS, STATE, type Schema } from './schema.ts';

/*
 * Jobs going back from a worker: released unstarted at its shutdown, or
 * taken back from a worker that died or stood still (abandon).
 */

export interface TakeBackStatements {
  readonly release: string;
  readonly applyDefaults: string;
  readonly lockOwner: string;
  readonly abandon: string;
  readonly forgetOwner: string;
}

/** A lost job's attempts: 0 stands for none given, until its worker applies its method's default (JobStore.applyDefaults). */
const MAX = `(CASE l.max_attempts WHEN 0 THEN ${DEFAULT_MAX_ATTEMPTS} ELSE l.max_attempts END)`;

export function takeBackStatements(s: Schema): TakeBackStatements {
  return {
    // Fenced like outcomes: the defaults a worker found for jobs added without them; what a job has stays.
    applyDefaults: `
      UPDATE ${s.q}.jobs j
         SET max_attempts = CASE WHEN j.max_attempts = 0 THEN i.max_attempts ELSE j.max_attempts END,
             timeout_ms = COALESCE(j.timeout_ms, i.timeout_ms)
        FROM unnest($2::bigint[], $3::integer[], $4::text[], $5::integer[], $6::bigint[]) AS i(id, attempt, db, max_attempts, timeout_ms),
             ${s.q}.owners o
       WHERE o.name = $1 AND j.id = i.id AND j.lease_owner + 0 = o.id AND j.attempts = i.attempt AND j.state = ${STATE.running}
         AND i.db = ${databaseId(s)}`,
    // Fenced like outcomes. The interrupted attempt was the worker's doing, not the job's: it is not counted.
    release: `
      WITH input AS (
        SELECT * FROM unnest($2::bigint[], $3::integer[], $4::text[]) AS t(id, attempt, db)
      ), held AS MATERIALIZED (
        SELECT j.id, j.cancel_requested
          FROM input i
          JOIN ${s.q}.owners o ON o.name = $1
          JOIN ${s.q}.jobs j ON j.id = i.id AND j.lease_owner + 0 = o.id AND j.attempts = i.attempt AND j.state = ${STATE.running}
         WHERE i.db = ${databaseId(s)}
         ORDER BY j.id
           FOR UPDATE OF j
      ), requeued AS (
        UPDATE ${s.q}.jobs j SET state = ${STATE.waiting}, lease_owner = NULL, started_at = NULL, attempts = j.attempts - 1
          FROM held h WHERE j.id = h.id AND NOT h.cancel_requested
      ), moved AS (
        DELETE FROM ${s.q}.jobs j USING held h WHERE j.id = h.id AND h.cancel_requested RETURNING j.*, ${flowRow(s, 'j')}
      ), archived AS (
        ${archive(s, 'moved', { state: String(STATE.cancelled), finished_at: NOW_MS, result: 'NULL', attempts: 'attempts - 1', started_at: 'NULL' })}
      )
      SELECT count(*)::integer AS released FROM held`,
    // Abandon and retire lock the owner's row first: a claim registering or using it (owner_id) holds it FOR KEY SHARE.
    lockOwner: `SELECT id, beat FROM ${s.q}.owners WHERE name = $1 FOR UPDATE`,
    // Every job the owner holds: the attempt stays counted (a job that kills its worker every time runs out of attempts).
    abandon: `
      WITH lost AS MATERIALIZED (
        SELECT id, attempts, max_attempts, cancel_requested FROM ${s.q}.jobs
         WHERE state = ${STATE.running} AND lease_owner = $1 ORDER BY id FOR UPDATE
      ), errors AS (
        INSERT INTO ${s.q}.job_errors (job_id, attempt, name, message, stack, at)
        SELECT id, attempts, $2, $3, $4, ${NOW_MS} FROM lost
      ), requeued AS (
        UPDATE ${s.q}.jobs j SET state = ${STATE.waiting}, lease_owner = NULL, error = $5, isolated = j.isolated OR $6
          FROM lost l WHERE j.id = l.id AND NOT l.cancel_requested AND l.attempts < ${MAX}
      ), moved AS (
        DELETE FROM ${s.q}.jobs j USING lost l
         WHERE j.id = l.id AND (l.cancel_requested OR l.attempts >= ${MAX})
        RETURNING j.*, ${flowRow(s, 'j')}
      ), archived AS (
        ${archive(s, 'moved', {
          state: `CASE WHEN cancel_requested THEN ${STATE.cancelled} ELSE ${STATE.failed} END`,
          finished_at: NOW_MS,
          result: 'NULL',
          error: '$5',
          isolated: 'isolated OR $6',
        })}
      )
      SELECT count(*)::integer AS lost FROM lost`,
    // A new statement after the lock: it sees claims that committed while it waited.
    forgetOwner: `
      DELETE FROM ${s.q}.owners o
       WHERE o.id = $1 AND NOT EXISTS (SELECT 1 FROM ${s.q}.jobs j WHERE j.state = ${STATE.running} AND j.lease_owner = $1)`,
  };
}

/** Gives `attempts` back unstarted; run in a transaction or alone (one statement). */
export async function releaseJobs(client: pg.ClientBase, sql: TakeBackStatements, owner: string, attempts: readonly AttemptRef[]): Promise<number> {
  const { rows } = await client.query<{ released: number }>({
    name: 'release',
    text: sql.release,
    values: [owner, attempts.map((a) => a.id), attempts.map((a) => a.attempt), attempts.map((a) => a.database)],
  });
  return rows[0]!.released;
}

/** See {@link JobStore.applyDefaults}. */
export async function applyDefaults(
  client: pg.ClientBase,
  sql: TakeBackStatements,
  owner: string,
  defaults: readonly (AttemptRef & { readonly maxAttempts: number; readonly timeoutMs: number | null })[],
): Promise<void> {
  await client.query({
    name: 'apply-defaults',
    text: sql.applyDefaults,
    values: [owner, defaults.map((d) => d.id), defaults.map((d) => d.attempt), defaults.map((d) => d.database), defaults.map((d) => d.maxAttempts), defaults.map((d) => d.timeoutMs)],
  });
}

/** Inside a transaction: see {@link JobStore.abandon}. */
export async function abandonOwner(
  client: pg.ClientBase,
  sql: TakeBackStatements,
  owner: string,
  error: JobErrorInfo,
  options: { readonly beat?: number; readonly isolate?: boolean },
): Promise<number> {
  const { rows: [row] } = await client.query<{ id: number; beat: number }>({ name: 'lock-owner', text: sql.lockOwner, values: [owner] });
  if (row === undefined) return 0; // never registered, or already forgotten: it holds nothing
  if (options.beat !== undefined && row.beat !== options.beat) return 0; // it beat since: alive after all
  const { rows } = await client.query<{ lost: number }>({
    name: 'abandon',
    text: sql.abandon,
    values: [row.id, error.name, error.message, error.stack ?? null, JSON.stringify(error), options.isolate === true],
  });
  await client.query({ name: 'forget-owner', text: sql.forgetOwner, values: [row.id] });
  return rows[0]!.lost;
}

/** Inside a transaction: forgets `owner` if it holds nothing. */
export async function retireOwner(client: pg.ClientBase, sql: TakeBackStatements, owner: string): Promise<void> {
  const { rows: [row] } = await client.query<{ id: number }>({ name: 'lock-owner', text: sql.lockOwner, values: [owner] });
  if (row !== undefined) await client.query({ name: 'forget-owner', text: sql.forgetOwner, values: [row.id] });
}
