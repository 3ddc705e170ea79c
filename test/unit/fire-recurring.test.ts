import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { RecurringSpec } from '../../src/store/job-store.ts';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { RecurringFirer } from '../../src/worker/fire-recurring.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import { memoryLogger } from '../helpers/logger.ts';
import { tempStore } from '../helpers/store.ts';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A recurring row as `addAsRecurring` would store it; override what the test is about. */
function spec(overrides: Partial<RecurringSpec>): RecurringSpec {
  return {
    service: 'svc', method: 'tick', name: '', params: '{"json":null}', everyMs: MINUTE, cron: null, tz: null, misfire: 'once',
    priority: 0, maxAttempts: 1, timeoutMs: null, anchor: NOW - HOUR, nextRunAt: NOW, createdAt: NOW - HOUR, ...overrides,
  };
}

/**
 * Writes a row this version cannot plan straight into the file, as a newer
 * version or another runtime could have: `addAsRecurring` refuses such input.
 */
function insertRaw(store: SqliteStore, row: { name: string; everyMs?: number; cron?: string; tz?: string; misfire?: string; nextRunAt: number }): number {
  const db = new Database(store.path);
  try {
    // As the store does for every recurring job it adds: occurrences are enqueued with their target's id.
    db.prepare(`INSERT OR IGNORE INTO targets (service, method) VALUES ('svc', 'tick')`).run();
    return Number(db.prepare(`
      INSERT INTO recurring (service, method, name, params, every_ms, cron, tz, misfire, anchor, next_run_at, created_at, updated_at)
      VALUES ('svc', 'tick', @name, '{"json":null}', @everyMs, @cron, @tz, @misfire, @anchor, @nextRunAt, @anchor, @anchor)`,
    ).run({ everyMs: null, cron: null, tz: null, misfire: 'once', anchor: NOW - 2 * HOUR, ...row }).lastInsertRowid);
  } finally {
    db.close();
  }
}

function updateRaw(store: SqliteStore, id: number, set: string): void {
  const db = new Database(store.path);
  try {
    db.prepare(`UPDATE recurring SET ${set} WHERE id = ?`).run(id);
  } finally {
    db.close();
  }
}

async function nextRunOf(store: SqliteStore, id: number): Promise<number | undefined> {
  return (await store.listRecurring()).find((r) => r.id === id)?.nextRunAt;
}

async function fireTimesOf(store: SqliteStore, recurringId: number): Promise<number[]> {
  return (await store.listJobs()).filter((j) => j.recurringId === recurringId).map((j) => j.fireTime ?? Number.NaN).sort((a, b) => a - b);
}

describe('RecurringFirer: a recurring row that cannot be planned', () => {
  // Each due an hour ago, so each comes before the good rows (dueRecurring is ordered by next run).
  const badRows = [
    { name: 'later', everyMs: MINUTE, misfire: 'later', why: 'Expected `misfire` to be one of once, skip, all, got `later`' },
    { name: 'mars', cron: '0 * * * *', tz: 'Mars/Olympus', why: 'Mars/Olympus' },
    { name: 'garbled', cron: 'not a cron', tz: 'UTC', why: 'not a cron' },
    { name: 'zero', everyMs: 0, why: 'Expected the interval to be a positive integer of milliseconds, got `0`' },
  ];

  it('is skipped: the good rows still fire, and the next due time is theirs', async () => {
    const store = tempStore();
    const { logger } = memoryLogger();
    const bad = badRows.map(({ why: _why, ...row }) => insertRaw(store, { ...row, nextRunAt: NOW - HOUR }));
    const interval = await store.upsertRecurring(spec({ name: 'interval' }));
    const hourly = await store.upsertRecurring(spec({ name: 'hourly', everyMs: null, cron: '0 * * * *', tz: 'UTC' }));

    const nextDue = await new RecurringFirer(store, logger).fireDue(NOW);

    expect(await fireTimesOf(store, interval.id)).toEqual([NOW]);
    expect(await fireTimesOf(store, hourly.id)).toEqual([NOW]);
    expect(await nextRunOf(store, interval.id)).toBe(NOW + MINUTE);
    expect(await nextRunOf(store, hourly.id)).toBe(NOW + HOUR);
    // Not the bad rows' next run, an hour ago: the worker would wake at once, again and again.
    expect(nextDue).toBe(NOW + MINUTE);
    for (const id of bad) {
      expect(await fireTimesOf(store, id)).toEqual([]);
      expect(await nextRunOf(store, id)).toBe(NOW - HOUR);
    }
  });

  it('is logged once at error level, naming its id, its signature and why', async () => {
    const store = tempStore();
    const { logger, lines } = memoryLogger();
    const bad = badRows.map(({ why: _why, ...row }) => insertRaw(store, { ...row, nextRunAt: NOW - HOUR }));
    const firer = new RecurringFirer(store, logger);

    await firer.fireDue(NOW);
    await firer.fireDue(NOW + 1000);
    await firer.fireDue(NOW + MINUTE);

    const errors = lines().filter((line) => line.level === 50);
    expect(errors).toHaveLength(badRows.length);
    badRows.forEach(({ name, why }, i) => {
      const line = errors.find((e) => e.recurringId === bad[i]);
      expect(line, name).toBeDefined();
      expect(line?.signature).toBe(`svc.tick#${name}`);
      expect(String(line?.msg)).toContain(`recurring job ${bad[i]} (svc.tick#${name})`);
      expect(String(line?.msg)).toContain(why);
    });
  });

  it('returns Infinity when no row can be planned, so the worker does not wake for them', async () => {
    const store = tempStore();
    insertRaw(store, { name: 'later', everyMs: MINUTE, misfire: 'later', nextRunAt: NOW - HOUR });
    expect(await new RecurringFirer(store, memoryLogger().logger).fireDue(NOW)).toBe(Number.POSITIVE_INFINITY);
  });

  it('is planned again once it changes: a new schedule, or a new next run', async () => {
    const store = tempStore();
    const { logger, lines } = memoryLogger();
    const later = insertRaw(store, { name: 'later', everyMs: MINUTE, misfire: 'later', nextRunAt: NOW - HOUR });
    const mars = insertRaw(store, { name: 'mars', cron: '0 * * * *', tz: 'Mars/Olympus', nextRunAt: NOW - HOUR });
    const firer = new RecurringFirer(store, logger);
    await firer.fireDue(NOW);

    updateRaw(store, later, `misfire = 'once'`);
    updateRaw(store, mars, `next_run_at = ${NOW - MINUTE}`); // still unplannable: logged again, once
    expect(await firer.fireDue(NOW + 1000)).toBe(NOW + MINUTE);
    await firer.fireDue(NOW + 2000);

    // Under the `once` it now has: one catch-up (the latest missed run), then the run within the grace.
    expect(await fireTimesOf(store, later)).toEqual([NOW - MINUTE, NOW]);
    expect(await nextRunOf(store, later)).toBe(NOW + MINUTE);
    const late = lines().filter((line) => line.msg === 'recurring job was late; applied its misfire policy');
    expect(late.map((line) => line.recurringId)).toEqual([later]);
    const errors = lines().filter((line) => line.level === 50).map((line) => line.recurringId);
    expect(errors.sort()).toEqual([later, mars, mars].sort());
  });
});

describe('a paused recurring job', () => {
  it('enqueues nothing while paused, keeps its pause when registered again, and resumes at its next fire time from then', async () => {
    let now = NOW;
    const clock = { now: () => now };
    const store = tempStore();
    const jobs = new WorkerService(store, { clock });
    const firer = new RecurringFirer(store, memoryLogger().logger);
    await jobs.addAsRecurring('svc', 'tick', null, 60, { misfire: 'all' });
    expect(await firer.fireDue(now)).toBe(NOW + MINUTE);
    expect(await store.listJobs()).toHaveLength(1);
    expect(await jobs.pauseRecurring('svc.tick')).toBe(true);
    expect(await jobs.pauseRecurring('svc.nothing')).toBe(false);
    // Three hours pass; `setup()` registers it again at a restart.
    now += 3 * HOUR + 20_000;
    await jobs.addAsRecurring('svc', 'tick', null, 60, { misfire: 'all' });
    expect(await firer.fireDue(now)).toBe(Number.POSITIVE_INFINITY);
    expect(await store.listJobs()).toHaveLength(1);
    // Resumed: the 180 fire times that fell meanwhile are skipped, even under `all`; the next one runs.
    expect(await jobs.resumeRecurring('svc.tick')).toBe(true);
    const [record] = await store.listRecurring();
    expect(record).toMatchObject({ pausedAt: null, nextRunAt: NOW + 3 * HOUR + MINUTE });
    now = NOW + 3 * HOUR + MINUTE;
    await firer.fireDue(now);
    expect((await store.listJobs()).map((j) => j.fireTime).sort()).toEqual([NOW, NOW + 3 * HOUR + MINUTE]);
  });
});
