import type { Database, Statement } from 'better-sqlite3';
import { BLOCKED_RUN_AT, type PausedTarget } from '../job-store.ts';
import type { ClaimedRow, Statements } from './statements.ts';

/*
 * Pause and resume on SQLite (migration 0014). Holding a job keeps its run
 * time asked for in its job_flow row (migration 0017): a plain job held gets
 * one, and its flag, in the transaction that holds it. Each hold is two
 * statements, one per table: the job_flow row first (it reads run_at), then
 * run_at, over the same jobs.
 */

export class PauseStatements {
  readonly all: Statement<[], { service: string; method: string; at: number }>;
  readonly insert: Statement<[string, string, number]>;
  readonly remove: Statement<[string, string]>;
  readonly targetsOf: Statement<{ service: string; method: string }, { id: number; method: string }>;
  readonly holdWaitingRows: Statement<{ targetId: number; blocked: number }>;
  readonly holdWaiting: Statement<{ targetId: number; blocked: number }>;
  readonly holdIdsRows: Statement<{ ids: string }>;
  readonly holdIds: Statement<{ ids: string; blocked: number }>;
  readonly releaseJobs: Statement<[number]>;
  readonly release: Statement<[number]>;

  constructor(db: Database) {
    this.all = db.prepare('SELECT service, method, at FROM paused ORDER BY service, method');
    this.insert = db.prepare<[string, string, number]>('INSERT INTO paused (service, method, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING');
    this.remove = db.prepare<[string, string]>('DELETE FROM paused WHERE service = ? AND method = ?');
    this.targetsOf = db.prepare<{ service: string; method: string }, { id: number; method: string }>(
      `SELECT id, method FROM targets WHERE service = @service AND (@method = '' OR method = @method)`);
    // Jobs held back already (parents, a full concurrency key, a pause) are left, their run_at at never-due: the claim
    // holds them once due. A job's row may exist (a keyed job) or not (a plain one).
    this.holdWaitingRows = db.prepare(`
      INSERT INTO job_flow (job_id, target_id, priority, held, ready_at)
      SELECT id, target_id, priority, 1, run_at FROM jobs WHERE state = 0 AND target_id = @targetId AND run_at < @blocked
      ON CONFLICT (job_id) DO UPDATE SET held = 1, ready_at = excluded.ready_at`);
    this.holdWaiting = db.prepare('UPDATE jobs SET flow = 1, run_at = @blocked WHERE state = 0 AND target_id = @targetId AND run_at < @blocked');
    this.holdIdsRows = db.prepare(`
      INSERT INTO job_flow (job_id, target_id, priority, held, ready_at)
      SELECT id, target_id, priority, 1, run_at FROM jobs WHERE id IN (SELECT value FROM json_each(@ids))
      ON CONFLICT (job_id) DO UPDATE SET held = 1, ready_at = excluded.ready_at`);
    this.holdIds = db.prepare('UPDATE jobs SET flow = 1, run_at = @blocked WHERE id IN (SELECT value FROM json_each(@ids))');
    // run_at first, from the ready_at of the rows the second statement then clears.
    this.releaseJobs = db.prepare<[number]>(`
      UPDATE jobs SET run_at = (SELECT ready_at FROM job_flow WHERE job_flow.job_id = jobs.id)
       WHERE id IN (SELECT job_id FROM job_flow WHERE held = 1 AND target_id = ?)`);
    this.release = db.prepare<[number]>('UPDATE job_flow SET held = 0 WHERE held = 1 AND target_id = ?');
  }
}

/** Whether `paused` covers `service.method`. */
function covers(paused: readonly { service: string; method: string }[], service: string, method: string): boolean {
  return paused.some((p) => p.service === service && (p.method === '' || p.method === method));
}

/**
 * Inside the claim's transaction: holds the rows of paused targets and
 * returns true (the claim reads again), or false when none is paused.
 */
export function holdPaused(s: Statements, rows: readonly ClaimedRow[]): boolean {
  const paused = s.pause.all.all();
  if (paused.length === 0) return false;
  const ids = rows.filter((row) => {
    const { service, method } = s.target(row[1]);
    return covers(paused, service, method);
  }).map((row) => row[0]);
  if (ids.length === 0) return false;
  const held = JSON.stringify(ids);
  s.pause.holdIdsRows.run({ ids: held });
  s.pause.holdIds.run({ ids: held, blocked: BLOCKED_RUN_AT });
  return true;
}

/** Inside a transaction: see JobStore.pause. */
export function pauseTarget(s: Statements, service: string, method: string | null, now: number): boolean {
  if (s.pause.insert.run(service, method ?? '', now).changes === 0) return false;
  for (const target of s.pause.targetsOf.all({ service, method: method ?? '' })) {
    const held = { targetId: target.id, blocked: BLOCKED_RUN_AT };
    s.pause.holdWaitingRows.run(held);
    s.pause.holdWaiting.run(held);
  }
  return true;
}

/** Inside a transaction: see JobStore.resume. Targets still paused by another entry stay held. */
export function resumeTarget(s: Statements, service: string, method: string | null): boolean {
  if (s.pause.remove.run(service, method ?? '').changes === 0) return false;
  const paused = s.pause.all.all();
  for (const target of s.pause.targetsOf.all({ service, method: method ?? '' })) {
    if (covers(paused, service, target.method)) continue;
    s.pause.releaseJobs.run(target.id);
    s.pause.release.run(target.id);
  }
  return true;
}

export function toPausedTargets(rows: readonly { service: string; method: string; at: number }[]): PausedTarget[] {
  return rows.map(({ service, method, at }) => ({ service, method: method === '' ? null : method, at }));
}
