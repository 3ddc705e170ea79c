import type pg from 'pg';
import type { JobState, JobStats, MethodFailures, WorkerInfo } from '../job-store.ts';
import { STATS_WINDOW_MS, workerInfo } from '../stats.ts';
import { NOW_MS, STATE, stateName, type Schema } from './schema.ts';

/*
 * `jobs stats` and `jobs workers` (JobStore.stats, JobStore.workers). Each is
 * one statement, so one snapshot. Due jobs, the oldest one's wait and "the
 * last hour" are judged by the server's clock, as the claim judges them.
 */

export interface StatsStatements {
  readonly stats: string;
  readonly workers: string;
}

export function statsStatements(s: Schema): StatsStatements {
  return {
    // `jobs` holds only waiting and running jobs (the backlog): one pass over it. `finished_jobs` has no index by
    // state (it would cost every completion a write): one pass over what retention keeps. Errors of the last
    // hour come through job_errors_at (migration 0002); their method from whichever job table holds the job.
    stats: `
      WITH now AS (SELECT ${NOW_MS} AS at),
      active AS (
        SELECT count(*) FILTER (WHERE state = ${STATE.waiting}) AS waiting,
               count(*) FILTER (WHERE state = ${STATE.waiting} AND run_at <= (SELECT at FROM now)) AS due,
               min(run_at) FILTER (WHERE state = ${STATE.waiting}) AS earliest_run_at,
               count(*) FILTER (WHERE state = ${STATE.running}) AS running
          FROM ${s.q}.jobs
      ),
      finished AS (
        SELECT coalesce(json_object_agg(state, n), '{}'::json) AS counts
          FROM (SELECT state, count(*) AS n FROM ${s.q}.finished_jobs GROUP BY state) f
      ),
      failures AS (
        SELECT coalesce(json_agg(json_build_object('service', service, 'method', method, 'failures', n)
                                 ORDER BY n DESC, service, method), '[]'::json) AS list
          FROM (SELECT j.service, j.method, count(*) AS n
                  FROM ${s.q}.job_errors e
                  JOIN (SELECT id, service, method FROM ${s.q}.jobs
                        UNION ALL
                        SELECT id, service, method FROM ${s.q}.finished_jobs) j ON j.id = e.job_id
                 WHERE e.at > (SELECT at FROM now) - ${STATS_WINDOW_MS}
                 GROUP BY j.service, j.method) m
      )
      SELECT (SELECT at FROM now) AS at, active.*, finished.counts AS finished, failures.list AS failures
        FROM active, finished, failures`,
    workers: `
      SELECT o.name AS owner, o.beat_at,
             ${NOW_MS} - o.beat_at AS beat_age,
             (SELECT count(*) FROM ${s.q}.jobs j WHERE j.state = ${STATE.running} AND j.lease_owner = o.id)::integer AS running_jobs
        FROM ${s.q}.owners o ORDER BY o.name COLLATE "C"`,
  };
}

interface StatsRow {
  at: number;
  waiting: number;
  due: number;
  earliest_run_at: number | null;
  running: number;
  /** Counts by stored state number (JSON object keys are strings). */
  finished: Record<string, number>;
  failures: MethodFailures[];
}

export async function stats(client: pg.ClientBase, sql: StatsStatements): Promise<JobStats> {
  const { rows: [row] } = await client.query<StatsRow>({ name: 'stats', text: sql.stats });
  const { at, earliest_run_at: earliest } = row!;
  const counts: Record<JobState, number> = { waiting: row!.waiting, running: row!.running, succeeded: 0, failed: 0, cancelled: 0 };
  for (const [state, n] of Object.entries(row!.finished)) counts[stateName(Number(state))] = n;
  return {
    at,
    counts,
    due: row!.due,
    oldestDueMs: earliest !== null && earliest <= at ? at - earliest : null,
    failuresLastHour: row!.failures,
  };
}

interface WorkerRow { owner: string; beat_at: number | null; beat_age: number | null; running_jobs: number }

export async function workers(client: pg.ClientBase, sql: StatsStatements): Promise<WorkerInfo[]> {
  const { rows } = await client.query<WorkerRow>({ name: 'workers', text: sql.workers });
  return rows.map((row) => workerInfo(row.owner, row.running_jobs, row.beat_at, row.beat_age));
}
