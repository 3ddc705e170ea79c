/**
 * `node --import tsx bench/sqlite-ceiling.ts`: what raw SQLite does on this machine with no queue logic, the two
 * figures issue 5 quotes as the ceiling (~70,000 single-row insert transactions/s and ~240,000 claim+complete/s
 * with 100 jobs per transaction, on the machine its figures come from). Machines of the same kind differ several
 * times over in speed; this puts the machine a benchmark ran on next to its figures.
 * Minimal table (id, state, run_at, payload) with one partial index, WAL, synchronous=NORMAL, 3 runs, best kept.
 * `npm run bench` measures the same before its workloads and prints it with the table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';

function fresh(): { db: Database.Database; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ceiling-'));
  const db = new Database(join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE q (id INTEGER PRIMARY KEY, state INTEGER NOT NULL DEFAULT 0, run_at INTEGER NOT NULL, payload TEXT NOT NULL);
           CREATE INDEX q_due ON q (run_at, id) WHERE state = 0;`);
  return { db, dispose: () => { db.close(); rmSync(dir, { recursive: true, force: true }); } };
}

function singleInserts(n: number): number {
  const { db, dispose } = fresh();
  const insert = db.prepare('INSERT INTO q (run_at, payload) VALUES (?, ?)');
  const start = performance.now();
  for (let i = 0; i < n; i++) insert.run(i, '{"i":1}');
  const rate = n / ((performance.now() - start) / 1000);
  dispose();
  return rate;
}

function claimComplete(n: number, batch: number): number {
  const { db, dispose } = fresh();
  const insert = db.prepare('INSERT INTO q (run_at, payload) VALUES (?, ?)');
  db.transaction(() => { for (let i = 0; i < n; i++) insert.run(i, '{"i":1}'); })();
  const claim = db.prepare<[number], number>(`UPDATE q SET state = 1 WHERE id IN (SELECT id FROM q WHERE state = 0 ORDER BY run_at, id LIMIT ?) RETURNING id`).pluck();
  const complete = db.prepare('UPDATE q SET state = 2 WHERE id = ? AND state = 1');
  let claimed: number[] = [];
  const start = performance.now();
  for (;;) {
    const previous = claimed;
    claimed = db.transaction(() => {
      for (const id of previous) complete.run(id);
      return claim.all(batch);
    })();
    if (claimed.length === 0) break;
  }
  const rate = n / ((performance.now() - start) / 1000);
  dispose();
  return rate;
}

/** Raw SQLite on this machine: the best of `runs` runs of each figure, in operations per second. */
export interface Ceiling {
  readonly singleCommits: number;
  readonly claimComplete: number;
}

/** Measures the {@link Ceiling} (about 4 s with 3 runs). `npm run bench` calls it before its workloads. */
export function measureCeiling(runs = 3): Ceiling {
  const repeat = (fn: () => number): number => Math.max(...Array.from({ length: runs }, fn));
  return { singleCommits: repeat(() => singleInserts(20_000)), claimComplete: repeat(() => claimComplete(100_000, 100)) };
}

/** The two figures as sentences, next to issue 5's. */
export function describeCeiling(ceiling: Ceiling): string[] {
  const rate = (value: number): string => Math.round(value).toLocaleString('en-US');
  return [
    `single-row insert transactions: ${rate(ceiling.singleCommits)}/s (issue 5's machine: ~70,000/s)`,
    `claim+complete, 100 per transaction: ${rate(ceiling.claimComplete)}/s (issue 5's machine: ~240,000/s)`,
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const line of describeCeiling(measureCeiling())) console.log(line);
}
