import type pg from 'pg';
import type { ProgressUpdate } from '../job-store.ts';
import { databaseId, STATE, type Schema } from './schema.ts';

/**
 * Progress and notes of running jobs, in one statement, fenced as outcomes
 * are (owner, attempt, database): an update whose attempt its owner no
 * longer holds is dropped with its notes. Notes go in in the order given.
 */
export function recordProgressStatement(s: Schema): string {
  return `
    WITH input AS (
      SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::bigint[])
        WITH ORDINALITY AS t(id, attempt, owner, db, current, total, at, ord)
    ), held AS MATERIALIZED (
      SELECT i.ord, j.id, i.current, i.total, i.at
        FROM input i
        JOIN ${s.q}.owners o ON o.name = i.owner
        JOIN ${s.q}.jobs j ON j.id = i.id AND j.lease_owner + 0 = o.id AND j.attempts = i.attempt AND j.state = ${STATE.running}
       WHERE i.db = ${databaseId(s)}
    ), progress AS (
      UPDATE ${s.q}.jobs j SET progress_current = h.current, progress_total = h.total, progress_at = h.at
        FROM held h WHERE j.id = h.id AND h.current IS NOT NULL
    ), notes AS (
      INSERT INTO ${s.q}.job_notes (job_id, level, message, at)
      SELECT h.id, n.level, n.message, n.at
        FROM unnest($8::bigint[], $9::text[], $10::text[], $11::bigint[]) WITH ORDINALITY AS n(update_ord, level, message, at, ord)
        JOIN held h ON h.ord = n.update_ord
       ORDER BY n.ord
    )
    SELECT 1`;
}

export async function recordProgress(client: Pick<pg.ClientBase, 'query'>, sql: string, updates: readonly ProgressUpdate[]): Promise<void> {
  const columns = Array.from({ length: 7 }, () => new Array<unknown>(updates.length));
  const notes: unknown[][] = [[], [], [], []];
  updates.forEach((u, i) => {
    columns[0]![i] = u.id;
    columns[1]![i] = u.attempt;
    columns[2]![i] = u.owner;
    columns[3]![i] = u.database;
    columns[4]![i] = u.progress?.current ?? null;
    columns[5]![i] = u.progress?.total ?? null;
    columns[6]![i] = u.progress?.at ?? null;
    for (const note of u.notes) {
      notes[0]!.push(i + 1); // ordinality is 1-based
      notes[1]!.push(note.level);
      notes[2]!.push(note.message);
      notes[3]!.push(note.at);
    }
  });
  await client.query({ name: 'record-progress', text: sql, values: [...columns, ...notes] });
}
