import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../../src/store/sqlite/migrate.ts';
import type { AttemptRef, Completion } from '../../src/store/job-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { Statements } from '../../src/store/sqlite/statements.ts';
import { tempDir } from '../helpers/temp.ts';
import { newJob, tempStore } from '../helpers/store.ts';

type Store = ReturnType<typeof tempStore>;

const claim = (store: Store, owner: string, now: number, limit = 10) => store.claim({ owner, limit, now, isolated: 'skip' });
const add = async (store: Store, overrides: Parameters<typeof newJob>[0] = {}): Promise<number> => (await store.addJob(newJob(overrides))).id;
const addMany = async (store: Store, jobs: ReturnType<typeof newJob>[]): Promise<number[]> => (await store.addJobs(jobs)).ids;

/** The attempt a job is at now, in the store's database: what a worker running it would fence its writes with. */
async function held(store: Store, id: number): Promise<AttemptRef> {
  const job = (await store.getJob(id))!;
  return { id, attempt: job.attempts, database: job.database };
}
const succeeded = async (store: Store, id: number, owner: string, at: number, result: string | null = null): Promise<Completion> =>
  ({ ...(await held(store, id)), owner, outcome: 'succeeded', result, at });


describe('migrations', () => {
  it('are recorded, and running them twice is harmless', () => {
    const db = new Database(':memory:');
    expect(migrate(db)).toEqual(loadMigrations().map((m) => m.version));
    expect(migrate(db)).toEqual([]);
    const recorded = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    expect(recorded).toEqual(loadMigrations().map((m) => m.version));
    db.close();
  });
  it('refuses a file a newer version migrated, naming it, and leaves it as it was', async () => {
    const path = join(tempDir('migrate-'), 'jobs.db');
    const store = SqliteStore.open({ path });
    const id = await add(store);
    await store.close();
    const db = new Database(path);
    db.prepare(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', 0)`).run();
    db.close();

    const newest = loadMigrations().at(-1)!.version;
    expect(() => SqliteStore.open({ path })).toThrow(expect.objectContaining({
      code: 'ERR_SCHEMA_TOO_NEW',
      message: expect.stringContaining(`${path} is at schema version 999, newer than this version of the scheduler knows (up to ${newest})`),
    }));
    const after = new Database(path, { readonly: true });
    expect(after.prepare('SELECT id FROM jobs').pluck().all()).toEqual([id]);
    after.close();
  });

  it('0005 keeps every job of a version-4 database, in the same state', async () => {
    const path = join(tempDir('migrate-'), 'jobs.db');
    const db = new Database(path);
    migrate(db, loadMigrations().filter((m) => m.version <= 4));
    const insert = db.prepare(`INSERT INTO jobs (service, method, params, state, run_at, created_at, lease_owner, key, tags, result)
                               VALUES ('svc', 'run', 'null', ?, 5, 1, ?, ?, ?, ?)`);
    const states = ['waiting', 'running', 'succeeded', 'failed', 'cancelled'] as const;
    for (const state of states) insert.run(state, state === 'running' ? 'host:1:a' : null, state === 'waiting' ? 'k' : null, '["t"]', state === 'succeeded' ? '{"json":42}' : null);
    db.close();

    const store = SqliteStore.open({ path });
    const jobs = await store.listJobs();
    expect(jobs.map((job) => job.state).reverse()).toEqual([...states]);
    expect(jobs.find((job) => job.state === 'running')!.leaseOwner).toBe('host:1:a');
    expect(jobs.find((job) => job.state === 'succeeded')!.result).toBe('{"json":42}');
    expect(jobs.every((job) => job.tags[0] === 't')).toBe(true);
    // the indexes came back with the table: a keyed job coalesces, the waiting one is claimed
    expect(await add(store, { service: 'svc', method: 'run', key: 'k' })).toBe(jobs.find((job) => job.state === 'waiting')!.id);
    expect((await claim(store, 'o', 10)).map((job) => job.id)).toEqual([jobs.find((job) => job.state === 'waiting')!.id]);
    await store.close();
  });
});

describe('targets (migration 0007)', () => {
  it('0007 keeps every job with its service and method, and recurring jobs still enqueue', async () => {
    const path = join(tempDir('migrate-'), 'jobs.db');
    const db = new Database(path);
    migrate(db, loadMigrations().filter((m) => m.version <= 6));
    const insert = db.prepare(`INSERT INTO jobs (service, method, params, state, run_at, created_at, key) VALUES (?, ?, 'null', 0, 5, 1, ?)`);
    insert.run('mail', 'send', 'k');
    insert.run('mail', 'send', null);
    insert.run('report', 'build', null);
    db.prepare(`INSERT INTO recurring (service, method, name, params, every_ms, misfire, priority, max_attempts, anchor, next_run_at, created_at, updated_at)
                VALUES ('clock', 'tick', '', 'null', 1000, 'once', 0, 1, 0, 1000, 0, 0)`).run();
    db.close();

    const store = SqliteStore.open({ path });
    const jobs = (await store.listJobs()).reverse();
    expect(jobs.map((job) => `${job.service}.${job.method}`)).toEqual(['mail.send', 'mail.send', 'report.build']);
    // the unique key now holds per target
    expect(await add(store, { service: 'mail', method: 'send', key: 'k' })).toBe(jobs[0]!.id);
    expect(await add(store, { service: 'report', method: 'build', key: 'k' })).not.toBe(jobs[0]!.id);
    const [tick] = await store.dueRecurring(1000);
    expect(await store.fireRecurring(tick!.id, 1000, [1000], 2000, 1000)).toBe(true);
    const claimed = await claim(store, 'w', 1000);
    expect(claimed.map((job) => `${job.service}.${job.method}`)).toEqual(['mail.send', 'mail.send', 'report.build', 'report.build', 'clock.tick']);
    await store.close();
  });

  it('keeps no target id that a rolled-back transaction took back', () => {
    const db = new Database(':memory:');
    migrate(db);
    const s = new Statements(db);
    expect(() => db.transaction(() => {
      s.targetId('svc', 'run');
      throw new Error('rolled back');
    })()).toThrow('rolled back');
    s.settle(false); // as Connection.transaction does after a rollback
    const id = s.targetId('svc', 'run');
    expect(db.prepare('SELECT service, method FROM targets WHERE id = ?').get(id)).toEqual({ service: 'svc', method: 'run' });
    expect(s.target(id)).toEqual({ service: 'svc', method: 'run' });
    db.close();
  });
});

describe('lease owners (migration 0008)', () => {
  const owners = (store: SqliteStore): string[] => {
    const db = new Database(store.path, { readonly: true });
    const names = db.prepare<[], string>('SELECT name FROM owners ORDER BY id').pluck().all();
    db.close();
    return names;
  };

  it('0008 keeps a running job with its lease owner, who alone can record it', async () => {
    const path = join(tempDir('migrate-'), 'jobs.db');
    const db = new Database(path);
    migrate(db, loadMigrations().filter((m) => m.version <= 7));
    db.prepare(`INSERT INTO targets (service, method) VALUES ('svc', 'run')`).run();
    const insert = db.prepare(`INSERT INTO jobs (state, run_at, attempts, lease_owner, lease_until, target_id, params, created_at, started_at)
                               VALUES (?, 5, 1, ?, 30000, 1, 'null', 1, 5)`);
    const running = Number(insert.run(1, 'host:1:a').lastInsertRowid);
    const other = Number(insert.run(1, 'host:2:b').lastInsertRowid);
    const waiting = Number(insert.run(0, null).lastInsertRowid);
    db.close();

    const store = SqliteStore.open({ path });
    expect(await store.getJob(running)).toMatchObject({ state: 'running', leaseOwner: 'host:1:a' });
    expect(await store.getJob(waiting)).toMatchObject({ state: 'waiting', leaseOwner: null });
    expect((await store.ownerBeats()).map((o) => o.owner).sort()).toEqual(['host:1:a', 'host:2:b']);
    expect(await store.complete([await succeeded(store, running, 'host:2:b', 10)])).toEqual({ refused: [running], gone: [] });
    expect(await store.complete([await succeeded(store, running, 'host:1:a', 10)])).toEqual({ refused: [], gone: [] });
    expect(await store.getJob(running)).toMatchObject({ state: 'succeeded', leaseOwner: null });
    expect((await store.runningJobs('host:2:b')).map((job) => job.id)).toEqual([other]);
    // the owner index came back with the table
    expect(store.explain('ownerBeats', []).join('\n')).toContain('SCAN jobs USING COVERING INDEX jobs_running_owner');
    expect(store.explain('deleteOwner', { id: 1 }).join('\n')).toContain('SEARCH jobs USING COVERING INDEX jobs_running_owner (lease_owner=?)');
    await store.close();
  });

  it('forgets an owner once it is gone, and never gives its id to another', async () => {
    const store = tempStore();
    const watcher = SqliteStore.open({ path: store.path }); // another process, e.g. a supervisor
    await store.addJobs(Array.from({ length: 3 }, () => newJob()));
    const [first] = await claim(store, 'a', 1000, 1);
    expect(await watcher.runningJobs('a')).toHaveLength(1); // the watcher now knows a's id
    // Retiring an owner that still holds a job keeps it: its job is still fenced by it.
    await store.retire('a');
    expect(owners(store)).toEqual(['a']);
    await store.complete([{ ...first!, owner: 'a', outcome: 'succeeded', result: null, at: 1100 }]);
    await store.retire('a');
    expect(owners(store)).toEqual([]);
    // b is registered after a's row went; a's id is not reused, so what the watcher asks about a finds nothing of b's.
    const [second] = await claim(store, 'b', 1200, 1);
    expect(await watcher.runningJobs('a')).toEqual([]);
    expect(await watcher.abandon('a', 1300, { name: 'WorkerLostError', message: 'a died' })).toBe(0);
    expect(await store.getJob(second!.id)).toMatchObject({ state: 'running', leaseOwner: 'b' });
    // Abandoning forgets the owner with its jobs.
    expect(await watcher.abandon('b', 1300, { name: 'WorkerLostError', message: 'b died' })).toBe(1);
    expect(owners(store)).toEqual([]);
    // An owner never seen holds nothing, and asking about it registers nothing.
    expect(await store.runningJobs('nobody')).toEqual([]);
    expect(await store.cancelRequests('nobody')).toEqual([]);
    expect(await store.heartbeat('nobody', [], 99_000)).toEqual([]);
    expect(owners(store)).toEqual([]);
    await watcher.close();
  });

  it('keeps no owner id that a rolled-back transaction took back', () => {
    const db = new Database(':memory:');
    migrate(db);
    const s = new Statements(db);
    expect(() => db.transaction(() => {
      s.ownerId('w');
      throw new Error('rolled back');
    })()).toThrow('rolled back');
    s.settle(false);
    expect(s.knownOwnerId('w')).toBeNull();
    const id = s.ownerId('w');
    expect(db.prepare('SELECT name FROM owners WHERE id = ?').pluck().get(id)).toBe('w');
    expect(s.knownOwnerId('w')).toBe(id);
    db.close();
  });
});

describe('identity, beats and isolation (migration 0009)', () => {
  it('0009 keeps every job, leases included, and gives the file an identity of its own', async () => {
    const path = join(tempDir('migrate-'), 'jobs.db');
    const db = new Database(path);
    migrate(db, loadMigrations().filter((m) => m.version <= 8));
    db.prepare(`INSERT INTO targets (service, method) VALUES ('svc', 'run')`).run();
    db.prepare(`INSERT INTO owners (name) VALUES ('host:1:a')`).run();
    const insert = db.prepare(`INSERT INTO jobs (state, run_at, attempts, lease_owner, lease_until, target_id, params, created_at)
                               VALUES (?, 5, ?, ?, 30000, 1, 'null', 1)`);
    const running = Number(insert.run(1, 1, 1).lastInsertRowid);
    const waiting = Number(insert.run(0, 0, null).lastInsertRowid);
    db.close();

    const store = SqliteStore.open({ path });
    const job = (await store.getJob(running))!;
    expect(job).toMatchObject({ state: 'running', attempts: 1, leaseOwner: 'host:1:a', isolated: false });
    expect(job.database).toMatch(/^[0-9a-f]{32}$/);
    expect(await store.ownerBeats()).toEqual([{ owner: 'host:1:a', beat: 0 }]);
    // Its owner can still record it, fenced by the attempt it holds.
    expect(await store.complete([{ id: running, attempt: 1, database: job.database, owner: 'host:1:a', outcome: 'succeeded', result: null, at: 9 }]))
      .toEqual({ refused: [], gone: [] });
    expect((await claim(store, 'w', 10)).map((claimed) => claimed.id)).toEqual([waiting]);
    await store.close();
    // Every file has its own identity.
    expect((await tempStore().addJob(newJob())).database).not.toBe(job.database);
  });
});

describe('workflows and limits in job_flow (migration 0017)', () => {
  const BLOCKED = Number.MAX_SAFE_INTEGER;
  /** job id → its flag, and the job ids that have a job_flow row. */
  const flowOf = (path: string): { flags: Record<number, number>; rows: number[] } => {
    const db = new Database(path, { readonly: true });
    const flags = Object.fromEntries(db.prepare<[], [number, number]>('SELECT id, flow FROM jobs').raw().all());
    const rows = db.prepare<[], number>('SELECT job_id FROM job_flow ORDER BY job_id').pluck().all();
    db.close();
    return { flags, rows };
  };

  it('0017 moves the jobs of a version-16 file that wait, are parked, held, keyed, rate-limited or debounced, and they go on as before', async () => {
    const path = join(tempDir('migrate-'), 'jobs.db');
    const db = new Database(path);
    migrate(db, loadMigrations().filter((m) => m.version <= 16));
    // As the version-16 store left them: a running parent (1) with a dependant waiting for it (2); a running keyed job
    // (3) with one parked behind it (4); a job held by a pause (5); a debounced one (6); a rate-limited one (7); a
    // plain one (8); a dependant (9) its failed parent (10) cancelled.
    db.exec(`
      INSERT INTO targets (id, service, method) VALUES (1, 'svc', 'run'), (2, 'svc', 'paused');
      INSERT INTO owners (id, name) VALUES (1, 'host:1:a');
      INSERT INTO paused (service, method, at) VALUES ('svc', 'paused', 5);
      INSERT INTO rate_limits (name, max_starts, per_ms) VALUES ('r', 1, 1000);
      INSERT INTO concurrency_keys (key, running) VALUES ('zone', 1);
      INSERT INTO meta (name, value) VALUES ('job_flow', '1');
      INSERT INTO jobs (id, state, run_at, attempts, max_attempts, lease_owner, target_id, params, created_at, started_at,
                        parents, waiting_for, ready_at, has_dependants, cancelled_by, concurrency_key, concurrency_limit,
                        parked, debounce_key, debounce_until, held, rate_limit, finished_at, error) VALUES
        (1, 1, 5, 1, 3, 1, 1, '1', 1, 6,       0, 0, NULL, 1, NULL, NULL, NULL,   0, NULL, NULL, 0, NULL, NULL, NULL),
        (2, 0, ${BLOCKED}, 0, 3, NULL, 1, '2', 1, NULL, 1, 1, 5, 0, NULL, NULL, NULL, 0, NULL, NULL, 0, NULL, NULL, NULL),
        (3, 1, 5, 1, 3, 1, 1, '3', 1, 6,       0, 0, NULL, 0, NULL, 'zone', 1,   0, NULL, NULL, 0, NULL, NULL, NULL),
        (4, 0, ${BLOCKED}, 0, 3, NULL, 1, '4', 1, NULL, 0, 0, 5, 0, NULL, 'zone', 1, 1, NULL, NULL, 0, NULL, NULL, NULL),
        (5, 0, ${BLOCKED}, 0, 3, NULL, 2, '5', 1, NULL, 0, 0, 5, 0, NULL, NULL, NULL, 0, NULL, NULL, 1, NULL, NULL, NULL),
        (6, 0, 50, 0, 3, NULL, 1, '6', 1, NULL,  0, 0, NULL, 0, NULL, NULL, NULL, 0, 'dk', 100, 0, NULL, NULL, NULL),
        (7, 0, 5, 0, 3, NULL, 1, '7', 1, NULL,   0, 0, NULL, 0, NULL, NULL, NULL, 0, NULL, NULL, 0, 'r', NULL, NULL),
        (8, 0, 5, 0, 3, NULL, 1, '8', 1, NULL,   0, 0, NULL, 0, NULL, NULL, NULL, 0, NULL, NULL, 0, NULL, NULL, NULL),
        (9, 4, 5, 0, 3, NULL, 1, '9', 1, NULL,   1, 1, 5, 0, 10, NULL, NULL,     0, NULL, NULL, 0, NULL, 7,
         '{"name":"ParentFailedError","message":"job 10, which this job runs after, ended failed"}'),
        (10, 3, 5, 1, 1, NULL, 1, '10', 1, 6,   0, 0, NULL, 1, NULL, NULL, NULL, 0, NULL, NULL, 0, NULL, 7, '{"name":"E","message":"x"}');
      INSERT INTO job_parents (job_id, position, parent_id) VALUES (2, 0, 1), (9, 0, 10);
    `);
    db.close();

    const store = SqliteStore.open({ path });
    // Every job reads as it did, its run time asked for included.
    expect(await store.getJob(2)).toMatchObject({ state: 'waiting', after: [1], waitingFor: 1, runAt: 5 });
    expect(await store.getJob(4)).toMatchObject({ state: 'waiting', parked: true, concurrency: { key: 'zone', limit: 1 }, runAt: 5 });
    expect(await store.getJob(5)).toMatchObject({ state: 'waiting', held: true, runAt: 5 });
    expect(await store.getJob(7)).toMatchObject({ rateLimit: 'r', runAt: 5 });
    expect(await store.getJob(8)).toMatchObject({ state: 'waiting', after: [], waitingFor: 0, parked: false, held: false, concurrency: null, rateLimit: null, runAt: 5 });
    expect(await store.getJob(9)).toMatchObject({ state: 'cancelled', cancelledBy: 10, after: [10] });
    expect(await store.concurrencyKeys(10)).toEqual([{ key: 'zone', running: 1, parked: 1, limit: 1 }]);
    // The columns left jobs; only the jobs that used them have a row, and their flag.
    const check = new Database(path, { readonly: true });
    const columns = check.prepare<[], string>(`SELECT name FROM pragma_table_info('jobs')`).pluck().all();
    expect(columns).toContain('flow');
    for (const gone of ['parents', 'waiting_for', 'ready_at', 'on_parent_failure', 'has_dependants', 'cancelled_by', 'concurrency_key',
      'concurrency_limit', 'parked', 'debounce_key', 'debounce_until', 'held', 'rate_limit']) expect(columns).not.toContain(gone);
    expect(check.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs' ORDER BY name`).pluck().all())
      .toEqual(['jobs_active_key', 'jobs_claim', 'jobs_occurrence', 'jobs_running_owner']);
    check.close();
    expect(flowOf(path)).toEqual({ flags: { 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 0, 9: 1, 10: 1 }, rows: [1, 2, 3, 4, 5, 6, 7, 9, 10] });

    // A debounced add still finds its waiting job, whose run time moves no later than its migrated bound.
    expect(await add(store, { params: '"again"', runAt: 150, debounce: { key: 'dk', untilAt: null } })).toBe(6);
    expect(await store.getJob(6)).toMatchObject({ params: '"again"', runAt: 100 });
    // Due now: the rate-limited job and the plain one; the others wait, are parked or held.
    const first = await claim(store, 'w', 10);
    expect(first.map((job) => job.id)).toEqual([7, 8]);
    expect(await store.rateLimitUse(10)).toEqual([{ name: 'r', limit: 1, perMs: 1000, recentStarts: 1, freeAt: 1010 }]);
    // The parent ends: its dependant is due. The keyed job ends: the parked one comes through.
    const db16 = (await store.getJob(1))!.database;
    expect(await store.complete([1, 3].map((id) => ({ id, attempt: 1, database: db16, owner: 'host:1:a', outcome: 'succeeded' as const, result: null, at: 20 }))))
      .toEqual({ refused: [], gone: [] });
    expect(await store.getJob(2)).toMatchObject({ waitingFor: 0, runAt: 5 }); // due at 20, the parent's end: after 4
    expect(await store.getJob(4)).toMatchObject({ parked: false, runAt: 5 });
    const second = await claim(store, 'w', 30);
    expect(second.map((job) => job.id)).toEqual([4, 2]);
    expect(second.find((job) => job.id === 2)!.parents).toBe(1);
    expect(await store.concurrencyKeys(10)).toEqual([{ key: 'zone', running: 1, parked: 0, limit: null }]);
    // Resumed, the held job is due again; the failed parent retried brings its dependant back.
    expect(await store.resume('svc', 'paused')).toBe(true);
    expect(await store.getJob(5)).toMatchObject({ held: false, runAt: 5 });
    expect(await store.retry(10, 40)).toBe(true);
    expect(await store.getJob(9)).toMatchObject({ state: 'waiting', cancelledBy: null, waitingFor: 1 });
    expect((await claim(store, 'w', 50)).map((job) => job.id)).toEqual([5, 10]);
    await store.close();
  });

  it('plain jobs never get a row: not on add, claim, retry or outcome, nor in a file whose other jobs use one', async () => {
    const store = tempStore();
    const plain = await addMany(store, Array.from({ length: 150 }, () => newJob({ maxAttempts: 1 })));
    const single = await add(store);
    const keyed = await add(store, { concurrency: { key: 'k', limit: 1 } });
    const jobs = await claim(store, 'w', 2000, 200);
    expect(jobs).toHaveLength(152);
    const failing = jobs.find((job) => job.id === plain[0])!;
    await store.complete(jobs.map((job): Completion => job === failing
      ? { ...job, owner: 'w', outcome: 'failed', error: { name: 'E', message: 'x' }, retryAt: null, at: 2100 }
      : { ...job, owner: 'w', outcome: 'succeeded', result: null, at: 2100 }));
    expect(await store.retry(plain[0]!, 2200)).toBe(true);
    const { flags, rows } = flowOf(store.path);
    expect(rows).toEqual([keyed]);
    expect(Object.entries(flags).filter(([, flag]) => flag === 1).map(([id]) => Number(id))).toEqual([keyed]);
    expect(flags[single]).toBe(0);
  });

  it('a plain job named in another job\'s after gets a row and its flag, and its end lets the dependant through', async () => {
    const store = tempStore();
    const parent = await add(store);
    expect(flowOf(store.path).rows).toEqual([]);
    const child = await add(store, { after: [{ id: parent }] });
    expect(flowOf(store.path)).toEqual({ flags: { [parent]: 1, [child]: 1 }, rows: [parent, child] });
    const [running] = await claim(store, 'w', 2000);
    expect(running!.id).toBe(parent);
    await store.complete([{ ...running!, owner: 'w', outcome: 'succeeded', result: '"done"', at: 2100 }]);
    // Due at the parent's end; the record shows the run time asked for, as before.
    expect(await store.getJob(child)).toMatchObject({ waitingFor: 0, runAt: 1000 });
    expect(await store.nextJobAt()).toBe(2100);
    expect((await claim(store, 'w', 2200)).map((job) => [job.id, job.parents])).toEqual([[child, 1]]);
  });

  it('a plain job held by a pause gets a row, and resume makes it due at its own run time', async () => {
    const store = tempStore();
    const early = await add(store, { runAt: 1000 });
    const other = await add(store, { method: 'other', runAt: 1000 });
    expect(await store.pause('svc', 'run', 1500)).toBe(true);
    expect(await store.getJob(early)).toMatchObject({ held: true, runAt: 1000 });
    expect(flowOf(store.path)).toEqual({ flags: { [early]: 1, [other]: 0 }, rows: [early] });
    expect((await claim(store, 'w', 2000)).map((job) => job.id)).toEqual([other]);
    expect(await store.resume('svc', 'run')).toBe(true);
    expect(await store.getJob(early)).toMatchObject({ held: false, runAt: 1000 });
    expect(await store.nextJobAt()).toBe(1000);
    const [claimed] = await claim(store, 'w', 2100);
    expect(claimed).toMatchObject({ id: early, parents: 0 });
    await store.complete([{ ...claimed!, owner: 'w', outcome: 'succeeded', result: null, at: 2200 }]);
    expect(await store.getJob(early)).toMatchObject({ state: 'succeeded', held: false });
  });

  it('a plain job added while its method is paused is held by the claim that meets it, and claimed after resume', async () => {
    const store = tempStore();
    expect(await store.pause('svc', null, 500)).toBe(true);
    const late = await add(store, { runAt: 1000 });
    expect(flowOf(store.path).rows).toEqual([]); // adds do not look at pauses
    expect(await claim(store, 'w', 2000)).toEqual([]);
    expect(await store.getJob(late)).toMatchObject({ held: true, runAt: 1000 });
    expect(flowOf(store.path).rows).toEqual([late]);
    expect(await store.resume('svc', null)).toBe(true);
    expect((await claim(store, 'w', 2100)).map((job) => job.id)).toEqual([late]);
  });

  it('pruning deletes a job\'s row with it', async () => {
    const store = tempStore();
    const keyed = await addMany(store, Array.from({ length: 3 }, () => newJob({ rateLimit: null, concurrency: { key: 'k', limit: 5 } })));
    await store.addJob(newJob()); // the newest job is never pruned
    const jobs = await claim(store, 'w', 2000);
    await store.complete(jobs.map((job): Completion => ({ ...job, owner: 'w', outcome: 'succeeded', result: null, at: 2100 })));
    expect(flowOf(store.path).rows).toEqual(keyed);
    expect(await store.prune({ succeededBefore: 3000, failedBefore: 3000 }, { windows: 1, batches: 1, batch: 100 })).toBe(3);
    expect(flowOf(store.path).rows).toEqual([]);
  });
});

describe('SqliteStore', () => {
  it('uses WAL', () => {
    const store = tempStore();
    const db = new Database(store.path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('claims through the partial index, without sorting the backlog', () => {
    const store = tempStore();
    for (const plan of [
      store.explain('selectClaimable', { now: 0, limit: 1 }), store.explain('markClaimed', { now: 0, limit: 1, owner: 1 }),
      store.explain('selectClaimableAny', { now: 0, limit: 1 }), store.explain('markClaimedAny', { now: 0, limit: 1, owner: 1 }),
    ]) {
      expect(plan.join('\n')).toContain('jobs_claim');
      expect(plan.join('\n')).not.toContain('TEMP B-TREE');
    }
    const complete = store.explain('completeSucceededMany', Array.from({ length: 17 }, () => null));
    expect(complete.join('\n')).toContain('SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)');
    expect(complete.join('\n')).not.toContain('jobs_running_owner');
    const refused = store.explain('refusedSuccessMany', Array.from({ length: 17 }, () => null)).join('\n');
    expect(refused).toContain('SEARCH jobs USING INTEGER PRIMARY KEY (rowid=?)');
    expect(refused).not.toContain('SCAN jobs');
    // Asked every second by every worker: it must look at running jobs only, never scan the table.
    expect(store.explain('ownerBeats', []).join('\n')).toContain('SCAN jobs USING COVERING INDEX jobs_running_owner');
    expect(store.explain('heldBy', [1]).join('\n')).toContain('SEARCH jobs USING INDEX jobs_running_owner (lease_owner=?)');
    expect(store.explain('deleteOwner', { id: 1 }).join('\n')).toContain('SEARCH jobs USING COVERING INDEX jobs_running_owner (lease_owner=?)');
    // Pruning reads one range of ids, never the whole table.
    const prune = store.explain('pruneJobs', { after: 0, upTo: 10, succeededBefore: 0, failedBefore: 0, limit: 1 }).join('\n');
    expect(prune).toContain('SEARCH jobs USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)');
    expect(prune).not.toContain('SCAN jobs');
    const wake = store.explain('nextWaitingBelowPriority', { below: 0 }).join('\n');
    expect(wake).toContain('SEARCH jobs USING COVERING INDEX jobs_claim (priority<?)');
    expect(wake).not.toContain('TEMP B-TREE');
  });






  it('records everything else of a batch exactly once when one success is refused, and still claims', async () => {
    const store = tempStore();
    const [ok, lost, failing, next] = await addMany(store, Array.from({ length: 4 }, () => newJob({ maxAttempts: 1 })));
    const mine = await claim(store, 'a', 1000, 3);
    const attempt = (id: number): AttemptRef => mine.find((job) => job.id === id)!;
    // `lost` was given back and another worker took it.
    await store.release('a', [attempt(lost!)], 1000);
    await claim(store, 'b', 1000, 1);
    const error = { name: 'Error', message: 'boom' };
    const { refused, gone, claimed } = await store.completeAndClaim([
      { ...attempt(ok!), owner: 'a', outcome: 'succeeded', result: '{"json":1}', at: 2000 },
      { ...attempt(lost!), owner: 'a', outcome: 'succeeded', result: '{"json":"stale"}', at: 2000 },
      { ...attempt(failing!), owner: 'a', outcome: 'failed', error, at: 2000, retryAt: null },
    ], { owner: 'a', limit: 10, now: 2000, isolated: 'skip' });
    expect(refused).toEqual([lost]);
    expect(gone).toEqual([]);
    expect(claimed.map((job) => job.id)).toEqual([next]);
    expect(await store.getJob(ok!)).toMatchObject({ state: 'succeeded', result: '{"json":1}' });
    expect(await store.getJob(lost!)).toMatchObject({ state: 'running', leaseOwner: 'b', result: null });
    expect(await store.getJob(failing!)).toMatchObject({ state: 'failed', error });
    expect(await store.getJobErrors(failing!)).toHaveLength(1);
    expect(await store.getJob(next!)).toMatchObject({ state: 'running', leaseOwner: 'a', attempts: 1 });
  });







  it('prunes by sweeping the table window by window, skipping emptied ranges, and starts over', async () => {
    const store = tempStore();
    const finish = async (ids: number[], at: number) => {
      const claimed = await claim(store, 'w', 1000, ids.length);
      expect(claimed.map((job) => job.id)).toEqual(ids);
      await store.complete(claimed.map((job): Completion => ({ ...job, owner: 'w', outcome: 'succeeded', result: 'null', at })));
    };
    // 25,000 old successes: more than two windows of 10,000 ids.
    const ids = await addMany(store, Array.from({ length: 25_000 }, () => newJob()));
    const old = [ids[0]!, ids[12_345]!, ids[24_999]!];
    await finish(ids, 1000);
    const recent = await addMany(store, Array.from({ length: 3 }, () => newJob()));
    await finish(recent.slice(0, 1), 9000);
    const cutoffs = { succeededBefore: 5000, failedBefore: null };
    // Two deletions of at most 4,000 per call: a full batch keeps the sweep where it is, and the next window
    // starts at the first job left, so each call deletes 8,000 until the last 1,000.
    const calls: number[] = [];
    for (let call = 0; call < 4; call++) calls.push(await store.prune(cutoffs, { batch: 4000, batches: 2, windows: 5 }));
    expect(calls).toEqual([8000, 8000, 8000, 1000]);
    for (const id of old) expect(await store.getJob(id)).toBeUndefined();
    expect(await store.getJob(recent[0]!)).toMatchObject({ state: 'succeeded' });
    // The low ids are gone: a window starts at the first job left, so one window sees the rest of the table.
    expect(await store.prune(cutoffs, { batch: 1000, batches: 5, windows: 1 })).toBe(0);
    expect((await store.listJobs()).length).toBe(3);
    // A success that ages past the cutoff later is found when the sweep comes round again.
    expect(await store.prune({ succeededBefore: 10_000, failedBefore: null }, { batch: 1000, batches: 5, windows: 1 })).toBe(1);
    expect(await store.getJob(recent[0]!)).toBeUndefined();
  });

  it('prunes at most its budget of windows per call, however much is left to read', async () => {
    const store = tempStore();
    const waiting = await addMany(store, Array.from({ length: 30_000 }, () => newJob()));
    const last = await add(store);
    await add(store); // the newest job, never pruned
    // Two old successes, the first job and the last, 30,000 ids apart; the rest are running.
    const claimed = await claim(store, 'w', 1000, 30_001);
    expect([claimed[0]!.id, claimed.at(-1)!.id]).toEqual([waiting[0], last]);
    await store.complete([claimed[0]!, claimed.at(-1)!].map((job): Completion => ({ ...job, owner: 'w', outcome: 'succeeded', result: 'null', at: 1000 })));
    // One window of 10,000 ids per call: the sweep reaches the newest job on the fourth call.
    const cutoffs = { succeededBefore: 5000, failedBefore: null };
    const calls: number[] = [];
    for (let call = 0; call < 4; call++) calls.push(await store.prune(cutoffs, { batch: 500, batches: 10, windows: 1 }));
    expect(calls).toEqual([1, 0, 0, 1]);
  });












  it('adds a bulk of jobs in order, whole statements and the rest alike, with their tags and keys', async () => {
    const store = tempStore();
    const count = 3 * 100 + 37; // three full multi-row statements and a remainder
    const shared = ['bulk'];
    // Jobs 0–99 differ only in params and run time (the statement binding the rest once); 100–199 in priority
    // too, and 200–299 in tags (equal arrays, not the same one): those bind every column of every row.
    const ids = await addMany(store, Array.from({ length: count }, (_, i) => newJob({
      params: String(i),
      runAt: 5000 + i,
      priority: i >= 100 && i < 200 ? i % 3 : 1,
      tags: i < 100 ? shared : i === 205 ? ['five'] : i >= 200 && i < 300 ? ['x'] : null,
    })));
    expect(ids).toHaveLength(count);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    for (const i of [0, 5, 99, 100, 101, 205, 299, 336]) {
      expect(await store.getJob(ids[i]!)).toMatchObject({ params: String(i), runAt: 5000 + i, priority: i >= 100 && i < 200 ? i % 3 : 1, maxAttempts: 3, createdAt: 1000 });
    }
    expect((await store.getJob(ids[0]!))!.tags).toEqual(['bulk']);
    expect((await store.getJob(ids[99]!))!.tags).toEqual(['bulk']);
    expect((await store.getJob(ids[205]!))!.tags).toEqual(['five']);
    expect((await store.getJob(ids[206]!))!.tags).toEqual(['x']);
    expect((await store.getJob(ids[336]!))!.tags).toEqual([]);
    // a keyed job in the batch coalesces with the active one, as it does alone
    const keyed = await addMany(store, [newJob({ key: 'k' }), newJob(), newJob({ key: 'k' })]);
    expect(keyed[2]).toBe(keyed[0]);
    expect(keyed[1]).not.toBe(keyed[0]);
  });

  it('reopens a database file deleted under it, instead of writing into the unlinked file', async () => {
    const store = tempStore({ checkIntervalMs: 60_000 });
    const before = await store.addJob(newJob());
    for (const suffix of ['', '-wal', '-shm']) rmSync(store.path + suffix, { force: true });
    // No read looked at the path since (checks are a minute apart): the commit itself finds the file gone.
    const after = await store.addJob(newJob());
    expect(after.id).toBe(1);
    expect(after.database).not.toBe(before.database);
    expect(await store.listJobs()).toHaveLength(1);
    const direct = new Database(store.path, { readonly: true });
    expect(direct.prepare('SELECT count(*) FROM jobs').pluck().get()).toBe(1);
    direct.close();
  });

  describe('background checkpoints', () => {
    // A checkpoint copies WAL pages into the database file, so the file grows; SQLite's own
    // (inline) checkpoint waits for 1,000 pages of WAL, far more than these tests write.
    const fileSize = (path: string): number => statSync(path).size;

    it('copy the WAL into the database file from a thread, without a commit asking', async () => {
      const store = tempStore({ checkpoint: 'background' });
      const before = fileSize(store.path);
      await store.addJobs(Array.from({ length: 500 }, () => newJob({ params: `"${'x'.repeat(200)}"` })));
      await expect.poll(() => fileSize(store.path), { timeout: 5000 }).toBeGreaterThan(before);
      const inline = tempStore();
      const inlineBefore = fileSize(inline.path);
      await inline.addJobs(Array.from({ length: 500 }, () => newJob({ params: `"${'x'.repeat(200)}"` })));
      expect(fileSize(inline.path)).toBe(inlineBefore);
    });

    it('follow the path when the database file is deleted', async () => {
      const store = tempStore({ checkIntervalMs: 0, checkpoint: 'background' });
      await store.addJob(newJob());
      for (const suffix of ['', '-wal', '-shm']) rmSync(store.path + suffix, { force: true });
      await store.addJob(newJob()); // the store reopens (creates) the file
      const before = fileSize(store.path);
      await store.addJobs(Array.from({ length: 500 }, () => newJob({ params: `"${'x'.repeat(200)}"` })));
      await expect.poll(() => fileSize(store.path), { timeout: 5000 }).toBeGreaterThan(before);
      expect(await store.listJobs()).toHaveLength(501);
    });
  });

});
