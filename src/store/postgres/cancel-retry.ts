import type pg from 'pg';
import { InvalidArgumentError, JobNotFoundError } from '../../errors.ts';
import type { CancelOutcome } from '../job-store.ts';
import { archive, flowRow } from './archive-jobs.ts';
import { NOW_MS, STATE, type Schema } from './schema.ts';

/* What a person does to one job from the CLI or the API: cancel it, retry it. */

export interface CancelRetryStatements {
  readonly cancelWaiting: string;
  readonly requestCancel: string;
  readonly isFinished: string;
  readonly retry: string;
  readonly exists: string;
  readonly activeByKey: string;
  readonly useFlow: string;
}

/** Whether a finished job (its finished_jobs row) used workflows or limits: it had a job_flow row. */
const USED_FLOW = 'parents > 0 OR has_dependants OR on_parent_failure OR concurrency_key IS NOT NULL OR rate_limit IS NOT NULL'

export function cancelRetryStatements(s: Schema): CancelRetryStatements {
  return {
    cancelWaiting: `
      WITH moved AS (DELETE FROM ${s.q}.jobs j WHERE id = $1 AND state = ${STATE.waiting} RETURNING j.*, ${flowRow(s, 'j')})
      ${archive(s, 'moved', { state: String(STATE.cancelled), finished_at: NOW_MS, result: 'NULL' })}
      RETURNING id`,
    requestCancel: `UPDATE ${s.q}.jobs SET cancel_requested = true WHERE id = $1 AND state = ${STATE.running} RETURNING id`,
    isFinished: `SELECT 1 FROM ${s.q}.finished_jobs WHERE id = $1`,
    // Back to the hot table with all its attempts and a clean slate; its error history stays. Due at once, by the
    // database's clock. The isolated mark stays: a person retrying a job does not make it stop blocking its process.
    retry: `
      WITH moved AS (
        DELETE FROM ${s.q}.finished_jobs WHERE id = $1 AND state IN (${STATE.failed}, ${STATE.cancelled}) RETURNING *
      ), flow AS (
        -- What it used of workflows and limits goes back to a job_flow row (migration 0010).
        INSERT INTO ${s.q}.job_flow (job_id, service, method, priority, parents, ready_at, on_parent_failure, has_dependants,
                                     concurrency_key, concurrency_limit, rate_limit)
        SELECT id, service, method, priority, parents, ready_at, on_parent_failure, has_dependants,
               concurrency_key, concurrency_limit, rate_limit
          FROM moved WHERE ${USED_FLOW}
      )
      INSERT INTO ${s.q}.jobs (id, state, priority, run_at, attempts, max_attempts, timeout_ms, isolated, service, method, params,
                               recurring_id, fire_time, key, tags, created_at, progress_current, progress_total, progress_at, flow)
      SELECT id, ${STATE.waiting}, priority, ${NOW_MS}, 0, max_attempts, timeout_ms, isolated, service, method, params,
             recurring_id, fire_time, key, tags, created_at, progress_current, progress_total, progress_at, ${USED_FLOW}
        FROM moved
      RETURNING id`,
    // Only for a job that used them: a plain schema stays without triggers.
    useFlow: `SELECT ${s.q}.use_job_flow() FROM ${s.q}.finished_jobs WHERE id = $1 AND (${USED_FLOW})`,
    exists: `SELECT 1 FROM ${s.q}.jobs WHERE id = $1 UNION ALL SELECT 1 FROM ${s.q}.finished_jobs WHERE id = $1`,
    activeByKey: `
      SELECT a.id, f.key FROM ${s.q}.finished_jobs f JOIN ${s.q}.jobs a ON a.service = f.service AND a.method = f.method AND a.key = f.key
       WHERE f.id = $1`,
  };
}

/** Inside a transaction: see {@link JobStore.cancel}. Each step is a new statement, so it sees what committed meanwhile. */
export async function cancelJob(client: pg.ClientBase, sql: CancelRetryStatements, id: number): Promise<CancelOutcome> {
  if ((await client.query({ name: 'cancel-waiting', text: sql.cancelWaiting, values: [id] })).rowCount === 1) return 'cancelled';
  if ((await client.query({ name: 'request-cancel', text: sql.requestCancel, values: [id] })).rowCount === 1) return 'requested';
  if ((await client.query({ name: 'is-finished', text: sql.isFinished, values: [id] })).rowCount === 1) return 'finished';
  throw new JobNotFoundError(id);
}

/**
 * Inside a retry's transaction, first: a job_flow row needs the triggers that
 * remove it (migration 0010), made before any lock on jobs. Only for a job
 * that used workflows or limits.
 */
export async function useFlowForRetry(client: pg.ClientBase, sql: CancelRetryStatements, id: number): Promise<void> {
  await client.query({ name: 'retry-use-job-flow', text: sql.useFlow, values: [id] });
}

/** Inside a transaction (after {@link useFlowForRetry}; with its parents and dependants, job-parents.ts): see {@link JobStore.retry}. */
export async function retryJob(client: pg.ClientBase, sql: CancelRetryStatements, id: number): Promise<boolean> {
  // The key conflict below aborts the statement; the savepoint keeps the transaction usable to say which job holds the key.
  await client.query('SAVEPOINT retry');
  try {
    if ((await client.query({ name: 'retry', text: sql.retry, values: [id] })).rowCount === 1) return true;
  } catch (error) {
    if ((error as { code?: string }).code !== '23505') throw error; // jobs_active_key: its key is taken by an active job
    await client.query('ROLLBACK TO SAVEPOINT retry');
    const { rows: [active] } = await client.query<{ id: number; key: string }>({ name: 'active-by-key', text: sql.activeByKey, values: [id] });
    throw new InvalidArgumentError(
      `job ${id} cannot be retried: ${active === undefined ? 'a job' : `job ${active.id}`} with the same key "${active?.key ?? ''}" is waiting or running`,
    );
  }
  if ((await client.query({ name: 'job-exists', text: sql.exists, values: [id] })).rowCount === 0) throw new JobNotFoundError(id);
  return false;
}
