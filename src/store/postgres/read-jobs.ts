import type pg from 'pg';
import { DatabaseReplacedError } from '../../errors.ts';
import type { AttemptError, JobFilter, JobNote, JobOutcome, JobPulse, JobRecord } from '../job-store.ts';
import {
  databaseId, jobColumns, jobsFrom, parseError, progressOf, STATE, stateName, toJobRecord, type JobRow, type Schema,
} from './schema.ts';

/*
 * Reads. A job is in exactly one of the two job tables in any one snapshot,
 * so a statement that reads both (UNION ALL) sees it once. Reads that take a
 * `database` return the identity with their rows, from the same snapshot, so
 * a schema replaced between two statements cannot slip through.
 */

export interface ReadStatements {
  readonly job: string;
  readonly list: string;
  readonly pulse: string;
  readonly outcomes: string;
  readonly notes: string;
  readonly errors: string;
  readonly nextJobAt: string;
  readonly database: string;
}

export function readStatements(s: Schema): ReadStatements {
  const bothTables = (where: string, tail = '') => `
    (SELECT ${jobColumns(s, 'jobs')} FROM ${jobsFrom(s, 'jobs')} WHERE ${where}${tail})
    UNION ALL
    (SELECT ${jobColumns(s, 'finished_jobs')} FROM ${jobsFrom(s, 'finished_jobs')} WHERE ${where}${tail})`;
  // One row even when no job matches, carrying the identity; `LEFT JOIN LATERAL … ON true` keeps it.
  const withIdentity = (rows: string) => `
    SELECT ${databaseId(s)} AS database, r.* FROM (SELECT 1) one LEFT JOIN LATERAL (${rows}) r ON true`;
  return {
    job: `SELECT ${databaseId(s)} AS database, r.* FROM (${bothTables('j.id = $1')}) r`,
    list: `
      SELECT ${databaseId(s)} AS database, r.* FROM (${bothTables(
        '($1::smallint IS NULL OR j.state = $1) AND ($2::text IS NULL OR $2 = ANY (j.tags))',
        ' ORDER BY j.id DESC LIMIT $3',
      )}) r ORDER BY r.id DESC LIMIT $3`,
    pulse: withIdentity(`
      SELECT p.id, p.state, p.progress_current, p.progress_total, p.progress_at,
             COALESCE((SELECT max(n.id) FROM ${s.q}.job_notes n WHERE n.job_id = p.id), 0) AS last_note_id
        FROM (SELECT id, state, progress_current, progress_total, progress_at FROM ${s.q}.jobs WHERE id = ANY ($1::bigint[])
              UNION ALL
              SELECT id, state, progress_current, progress_total, progress_at FROM ${s.q}.finished_jobs WHERE id = ANY ($1::bigint[])) p`),
    outcomes: withIdentity(`SELECT id, state, result, error FROM ${s.q}.finished_jobs WHERE id = ANY ($1::bigint[])`),
    notes: withIdentity(`SELECT id, level, message, at FROM ${s.q}.job_notes WHERE job_id = $1 AND id > $2 ORDER BY id`),
    errors: `SELECT attempt, name, message, stack, at FROM ${s.q}.job_errors WHERE job_id = $1 ORDER BY attempt, id`,
    // The earliest run time among waiting jobs, one seek in jobs_claim per distinct priority (a loose index scan):
    // no index on run_at alone for every add to pay for.
    nextJobAt: `
      WITH RECURSIVE p AS (
        (SELECT priority, run_at FROM ${s.q}.jobs WHERE state = ${STATE.waiting} ORDER BY priority DESC, run_at, id LIMIT 1)
        UNION ALL
        SELECT n.priority, n.run_at FROM p CROSS JOIN LATERAL (
          SELECT priority, run_at FROM ${s.q}.jobs WHERE state = ${STATE.waiting} AND priority < p.priority
           ORDER BY priority DESC, run_at, id LIMIT 1) n
      )
      SELECT min(run_at) AS at FROM p`,
    database: `SELECT ${databaseId(s)} AS database`,
  };
}

type Identified<T> = { database: string } & { [K in keyof T]: T[K] | null };

/** The rows of a {@link withIdentity} read, after checking the identity: the one null row of an empty result is dropped. */
function checked<T extends { id: number }>(rows: Identified<T>[], database: string, what: () => string, description: string): T[] {
  if (rows[0]?.database !== database) throw new DatabaseReplacedError(what(), description);
  return rows.filter((row) => row.id !== null) as unknown as T[];
}

export async function getJob(client: pg.ClientBase, sql: ReadStatements, id: number): Promise<JobRecord | undefined> {
  const { rows: [row] } = await client.query<JobRow & { database: string }>({ name: 'get-job', text: sql.job, values: [id] });
  return row === undefined ? undefined : toJobRecord(row, row.database);
}

export async function listJobs(client: pg.ClientBase, sql: ReadStatements, filter: JobFilter): Promise<JobRecord[]> {
  const { rows } = await client.query<JobRow & { database: string }>({
    name: 'list-jobs',
    text: sql.list,
    values: [filter.state === undefined ? null : STATE[filter.state], filter.tag ?? null, filter.limit ?? null],
  });
  return rows.map((row) => toJobRecord(row, row.database));
}

interface PulseRow { id: number; state: number; progress_current: number | null; progress_total: number | null; progress_at: number | null; last_note_id: number }

export async function pulse(client: pg.ClientBase, sql: ReadStatements, database: string, ids: readonly number[], description: string): Promise<JobPulse[]> {
  const { rows } = await client.query<Identified<PulseRow>>({ name: 'pulse', text: sql.pulse, values: [ids] });
  return checked(rows, database, () => describeJobs(ids), description).map((row) => ({
    id: row.id,
    state: stateName(row.state),
    progress: progressOf(row.progress_current, row.progress_total, row.progress_at),
    lastNoteId: row.last_note_id,
  }));
}

interface OutcomeRow { id: number; state: number; result: string | null; error: string | null }

export async function outcomes(client: pg.ClientBase, sql: ReadStatements, database: string, ids: readonly number[], description: string): Promise<JobOutcome[]> {
  const { rows } = await client.query<Identified<OutcomeRow>>({ name: 'outcomes', text: sql.outcomes, values: [ids] });
  return checked(rows, database, () => describeJobs(ids), description).map((row) => ({
    id: row.id,
    state: stateName(row.state) as JobOutcome['state'],
    result: row.result,
    error: parseError(row.error),
  }));
}

export async function jobNotes(
  client: pg.ClientBase, sql: ReadStatements, id: number, afterId: number, database: string | undefined, description: string,
): Promise<JobNote[]> {
  const { rows } = await client.query<Identified<JobNote>>({ name: 'job-notes', text: sql.notes, values: [id, afterId] });
  return checked(rows, database ?? rows[0]?.database ?? '', () => `job ${id}`, description);
}

export async function jobErrors(client: pg.ClientBase, sql: ReadStatements, id: number): Promise<AttemptError[]> {
  const { rows } = await client.query<AttemptError & { stack: string | null }>({ name: 'job-errors', text: sql.errors, values: [id] });
  return rows.map(({ stack, ...rest }) => (stack === null ? rest : { ...rest, stack }));
}

function describeJobs(ids: readonly number[]): string {
  return ids.length === 1 ? `job ${ids[0]}` : `jobs ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}`;
}
