/**
 * Change signals between processes on PostgreSQL: a NOTIFY names the kinds
 * of change it announces, so a worker elsewhere re-reads recurring jobs only
 * when one changed, not on every added job. The backstop tick is set to a
 * minute here, so every signal seen came by NOTIFY.
 */
import { describe, expect, it } from 'vitest';
import type { StoreChange } from '../../src/store/job-store.ts';
import { changesNamed } from '../../src/store/postgres/notifications.ts';
import { outsideprocess } from '../../src/worker/outsideprocess.ts';
import { serviceMap } from '../../src/worker/resolve-target.ts';
import { WorkerService } from '../../src/worker/worker-service.ts';
import { Worker } from '../../src/worker/worker.ts';
import { memoryLogger } from '../helpers/logger.ts';
import { postgresSkipReason, tempPostgresStore } from '../helpers/postgres.ts';

describe('the kinds a NOTIFY payload names', () => {
  it('reads the kinds after the sender, and any kind it does not know as any', () => {
    expect(changesNamed('a1b2:work')).toEqual(['work']);
    expect(changesNamed('a1b2:work,outcomes')).toEqual(['work', 'outcomes']);
    expect(changesNamed('a1b2:recurring')).toEqual(['recurring']);
    expect(changesNamed('dependants:work')).toEqual(['work']);
    expect(changesNamed('a1b2:work,paused')).toEqual(['any']);
    expect(changesNamed('a1b2:')).toEqual(['any']);
    expect(changesNamed('')).toEqual(['any']);
    expect(changesNamed(undefined)).toEqual(['any']);
  });
});

describe.skipIf(postgresSkipReason !== null)('change signals between processes on PostgreSQL', () => {
  const quiet = { pollIntervalMs: 60_000 };

  it('tells another process an add as work, an outcome as outcomes, a recurring job as recurring', async () => {
    const here = await tempPostgresStore(quiet);
    const seen: StoreChange[] = [];
    here.onChange((change) => seen.push(change));
    await expect.poll(() => seen.includes('any')).toBe(true); // listening
    const there = await tempPostgresStore({ ...quiet, schema: here.schema });
    seen.length = 0;
    await there.addJob({ service: 'svc', method: 'run', params: '{"json":null}', runAt: 0, priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: Date.now() });
    await expect.poll(() => seen).toEqual(['work']);
    seen.length = 0;
    const [claimed] = await there.claim({ owner: 'w', limit: 1, now: Date.now(), isolated: 'skip' });
    await there.complete([{ id: claimed!.id, attempt: claimed!.attempt, database: claimed!.database, owner: 'w', at: Date.now(), outcome: 'succeeded', result: null }]);
    await expect.poll(() => seen).toEqual(['outcomes']);
    seen.length = 0;
    const at = Date.now();
    await there.upsertRecurring({
      service: 'svc', method: 'tick', name: '', params: '{"json":null}', everyMs: 1000, cron: null, tz: null, misfire: 'once',
      priority: 0, maxAttempts: 3, timeoutMs: null, anchor: at, nextRunAt: at, createdAt: at,
    });
    await expect.poll(() => seen).toEqual(['recurring']);
  });

  it('a worker looks at recurring jobs again when another process adds one, and not when it adds a job', async () => {
    const store = await tempPostgresStore(quiet);
    const other = await tempPostgresStore({ ...quiet, schema: store.schema });
    // Listening before the worker starts: the 'any' that LISTEN's connection announces would make it look again.
    const seen: StoreChange[] = [];
    store.onChange((change) => seen.push(change));
    await expect.poll(() => seen.includes('any')).toBe(true);
    let ticks = 0;
    let runs = 0;
    const svc = {
      tick: outsideprocess(async () => { ticks += 1; }),
      run: outsideprocess(async () => { runs += 1; }),
    };
    let recurringReads = 0;
    const dueRecurring = store.dueRecurring.bind(store);
    store.dueRecurring = async (now) => {
      recurringReads += 1;
      return dueRecurring(now);
    };
    const worker = new Worker({ store, services: serviceMap({ svc }), logger: memoryLogger().logger });
    worker.start();
    try {
      const jobs = new WorkerService(other);
      await expect.poll(() => recurringReads).toBeGreaterThan(0); // its first look, at start
      const before = recurringReads;
      for (let i = 0; i < 5; i++) await (await jobs.add('svc', 'run', null)).result();
      expect(runs).toBe(5);
      expect(recurringReads).toBe(before);
      // No backstop tick for a minute: only the NOTIFY can make the worker look in time.
      await jobs.addAsRecurring('svc', 'tick', null, 3600);
      await expect.poll(() => ticks, { timeout: 5000 }).toBe(1);
    } finally {
      await worker.stop();
    }
  });
});
