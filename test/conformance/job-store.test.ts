/**
 * The JobStore contract (src/store/job-store.ts), run against every store
 * from the same code: `STORES=postgres npx vitest run test/conformance` for
 * one of them. Times are relative to the real clock (a PostgreSQL store
 * judges due jobs by the server's clock): "past" is an hour ago, "future" an
 * hour ahead.
 */
import { describe, expect, it } from 'vitest';
import type {
  AttemptRef, ClaimedJob, Completion, JobErrorInfo, JobStore, NewJob, ProgressUpdate, RecurringSpec, StoreChange,
} from '../../src/store/job-store.ts';
import { describeStores } from '../helpers/store-factories.ts';

const HOUR = 3_600_000;
const past = (): number => Date.now() - HOUR;
const future = (): number => Date.now() + HOUR;

function job(overrides: Partial<NewJob> = {}): NewJob {
  return { service: 'svc', method: 'run', params: '{"json":null}', runAt: past(), priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: Date.now(), ...overrides };
}

function recurring(overrides: Partial<RecurringSpec> = {}): RecurringSpec {
  const at = past();
  return {
    service: 'svc', method: 'tick', name: '', params: '{"json":null}', everyMs: 1000, cron: null, tz: null, misfire: 'once',
    priority: 0, maxAttempts: 3, timeoutMs: null, anchor: at, nextRunAt: at, createdAt: at, ...overrides,
  };
}

const claim = (store: JobStore, owner: string, limit = 10, isolated: 'skip' | 'alone' = 'skip'): Promise<ClaimedJob[]> =>
  store.claim({ owner, limit, now: Date.now(), isolated });

const ref = (j: ClaimedJob): AttemptRef => ({ id: j.id, attempt: j.attempt, database: j.database });

const ok = (j: ClaimedJob, owner: string, result: string | null = '{"json":1}'): Completion =>
  ({ ...ref(j), owner, at: Date.now(), outcome: 'succeeded', result });

const boom: JobErrorInfo = { name: 'Error', message: 'boom' };
const lostError: JobErrorInfo = { name: 'WorkerLostError', message: 'its worker died' };

/** A failed attempt; `retryInMs` null for the last one. */
const failed = (j: ClaimedJob, owner: string, retryInMs: number | null, extra: { error?: JobErrorInfo; isolate?: boolean } = {}): Completion => {
  const at = Date.now();
  return { ...ref(j), owner, at, outcome: 'failed', error: extra.error ?? boom, retryAt: retryInMs === null ? null : at + retryInMs, ...(extra.isolate === undefined ? {} : { isolate: extra.isolate }) };
};

const ids = (jobs: readonly { id: number }[]): number[] => jobs.map((j) => j.id);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeStores('JobStore contract', (factory) => {
  const open = (): Promise<JobStore> => factory.open();

  describe('adding', () => {
    it('adds a job and reads it back with the database it is in', async () => {
      const store = await open();
      const runAt = past();
      const added = await store.addJob(job({ runAt, priority: 5, maxAttempts: 4, timeoutMs: 250, tags: ['a', 'b'] }));
      expect(added.database).toMatch(/\S/);
      expect(await store.getJob(added.id)).toMatchObject({
        id: added.id, service: 'svc', method: 'run', params: '{"json":null}', state: 'waiting', priority: 5, runAt, attempts: 0,
        maxAttempts: 4, timeoutMs: 250, result: null, error: null, recurringId: null, fireTime: null, leaseOwner: null,
        startedAt: null, finishedAt: null, key: null, tags: ['a', 'b'], progress: null, isolated: false, database: added.database,
      });
      expect(await store.getJob(added.id + 1000)).toBeUndefined();
    });

    it('adds many in one transaction, ids in order, with tags and keys', async () => {
      const store = await open();
      const count = 237;
      const { ids: added, database } = await store.addJobs(Array.from({ length: count }, (_, i) => job({ params: String(i), priority: i % 3, tags: i === 5 ? ['five'] : null })));
      expect(added).toHaveLength(count);
      expect(added).toEqual([...added].sort((a, b) => a - b));
      expect(database).toBe((await store.addJob(job())).database);
      for (const i of [0, 5, 100, 236]) expect(await store.getJob(added[i]!)).toMatchObject({ params: String(i), priority: i % 3, tags: i === 5 ? ['five'] : [] });
      // A keyed job in the batch coalesces with the active one, as it does alone, the batch's own included.
      const keyed = await store.addJobs([job({ key: 'k' }), job(), job({ key: 'k' })]);
      expect(keyed.ids[2]).toBe(keyed.ids[0]);
      expect(keyed.ids[1]).not.toBe(keyed.ids[0]);
      expect((await store.addJobs([])).ids).toEqual([]);
    });

    it('adds all or none: a bad job or a throwing iterable adds nothing', async () => {
      const store = await open();
      await expect(store.addJobs([job(), job({ service: null as unknown as string })])).rejects.toThrow();
      function* throwing(): Iterable<NewJob> {
        yield job();
        throw new Error('no more');
      }
      await expect(store.addJobs(throwing())).rejects.toThrow('no more');
      expect(await store.listJobs()).toEqual([]);
    });

    it('commits concurrent adds, each resolving to its own job, and fails only the bad one', async () => {
      const store = await open();
      const added = await Promise.all(Array.from({ length: 300 }, (_, i) => store.addJob(job({ params: String(i) }))));
      expect(new Set(ids(added)).size).toBe(300);
      const params = new Map((await store.listJobs({ limit: 1000 })).map((j) => [j.id, j.params]));
      expect(added.map((a) => params.get(a.id))).toEqual(added.map((_, i) => String(i)));
      const results = await Promise.allSettled([store.addJob(job()), store.addJob(job({ service: null as unknown as string })), store.addJob(job({ key: 'k' }))]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(await store.listJobs()).toHaveLength(302);
    });

    it('coalesces a key while its job is waiting or running, and only then', async () => {
      const store = await open();
      const first = await store.addJob(job({ key: 'k' }));
      expect((await store.addJob(job({ key: 'k' }))).id).toBe(first.id);
      expect((await store.addJob(job({ key: 'k', method: 'other' }))).id).not.toBe(first.id);
      const [running] = await claim(store, 'w');
      expect((await store.addJob(job({ key: 'k' }))).id).toBe(first.id);
      await store.complete([ok(running!, 'w')]);
      const next = await store.addJob(job({ key: 'k' }));
      expect(next.id).not.toBe(first.id);
    });

    it('keeps one job per key when many processes add it at once', async () => {
      const store = await open();
      const other = await factory.openAnother(store);
      const added = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? store : other).addJob(job({ key: 'race' }))));
      expect(new Set(ids(added)).size).toBe(1);
      expect(await store.listJobs()).toHaveLength(1);
    });
  });

  describe('claiming', () => {
    it('claims due jobs only: priority first, then run time, then the order of adding; the attempt counted at claim', async () => {
      const store = await open();
      const base = past();
      const low = await store.addJob(job({ priority: -10, runAt: base + 100 }));
      const late = await store.addJob(job({ runAt: base + 300 }));
      const early = await store.addJob(job({ runAt: base + 200 }));
      const earlyToo = await store.addJob(job({ runAt: base + 200 }));
      const high = await store.addJob(job({ priority: 10, runAt: base + 400 }));
      await store.addJob(job({ priority: 99, runAt: future() }));
      const order: number[] = [];
      for (;;) {
        const [next] = await claim(store, 'w', 1);
        if (next === undefined) break;
        expect(next).toMatchObject({ service: 'svc', method: 'run', params: '{"json":null}', attempt: 1, maxAttempts: 3, timeoutMs: null, isolated: false, database: high.database });
        order.push(next.id);
      }
      expect(order).toEqual(ids([high, early, earlyToo, late, low]));
      const stored = await store.getJob(high.id);
      expect(stored).toMatchObject({ state: 'running', attempts: 1, leaseOwner: 'w' });
      expect(stored!.startedAt).toBeGreaterThan(Date.now() - 60_000);
    });

    it('returns claimed jobs in claim order, from a claim alone and from one that goes with outcomes', async () => {
      const store = await open();
      const a = await store.addJob(job({ priority: 1 }));
      const b = await store.addJob(job({ priority: 3 }));
      const c = await store.addJob(job({ priority: 2 }));
      const first = await claim(store, 'w');
      expect(ids(first)).toEqual(ids([b, c, a]));
      const base = past();
      const { ids: added } = await store.addJobs([job({ priority: 1 }), job({ priority: 5, runAt: base + 10 }), job({ priority: 5, runAt: base }), job()]);
      const { claimed, refused, gone } = await store.completeAndClaim(first.map((j) => ok(j, 'w')), { owner: 'w', limit: 10, now: Date.now(), isolated: 'skip' });
      expect({ refused, gone }).toEqual({ refused: [], gone: [] });
      expect(ids(claimed)).toEqual([added[2], added[1], added[0], added[3]]);
    });

    it('records the defaults a claim carries for the jobs it leases that were added without them, in both kinds of claim', async () => {
      const store = await open();
      const bare = await store.addJob(job({ maxAttempts: 0 }));
      const ownAttempts = await store.addJob(job({ maxAttempts: 5 }));
      const ownTimeout = await store.addJob(job({ maxAttempts: 0, timeoutMs: 700 }));
      const unlisted = await store.addJob(job({ method: 'other', maxAttempts: 0 }));
      const defaults = [{ service: 'svc', method: 'run', maxAttempts: 2, timeoutMs: 300 }, { service: 'svc', method: 'idle', maxAttempts: 9, timeoutMs: null }];
      const claimed = await store.claim({ owner: 'w', limit: 10, now: Date.now(), isolated: 'skip', defaults });
      const got = new Map(claimed.map((j) => [j.id, { maxAttempts: j.maxAttempts, timeoutMs: j.timeoutMs }]));
      const expected = new Map([
        [bare.id, { maxAttempts: 2, timeoutMs: 300 }],
        [ownAttempts.id, { maxAttempts: 5, timeoutMs: 300 }],
        [ownTimeout.id, { maxAttempts: 2, timeoutMs: 700 }],
        [unlisted.id, { maxAttempts: 0, timeoutMs: null }],
      ]);
      expect(got).toEqual(expected);
      for (const [id, values] of expected) expect(await store.getJob(id)).toMatchObject({ state: 'running', ...values });
      // The claim that goes with outcomes does the same.
      const next = await store.addJob(job({ maxAttempts: 0 }));
      const { claimed: more } = await store.completeAndClaim([ok(claimed[0]!, 'w')], { owner: 'w', limit: 1, now: Date.now(), isolated: 'skip', defaults });
      expect(more).toEqual([expect.objectContaining({ id: next.id, maxAttempts: 2, timeoutMs: 300 })]);
      expect(await store.getJob(next.id)).toMatchObject({ state: 'running', maxAttempts: 2, timeoutMs: 300 });
    });

    it('keeps apart methods whose service.method reads the same, and takes the first of two entries for one method', async () => {
      const store = await open();
      const dotted = await store.addJob(job({ service: 'a.b', method: 'c', maxAttempts: 0 }));
      const plain = await store.addJob(job({ service: 'a', method: 'b.c', maxAttempts: 0 }));
      const defaults = [
        { service: 'a', method: 'b.c', maxAttempts: 7, timeoutMs: 700 },
        { service: 'a.b', method: 'c', maxAttempts: 5, timeoutMs: 500 },
        { service: 'a.b', method: 'c', maxAttempts: 9, timeoutMs: 900 },
      ];
      const claimed = await store.claim({ owner: 'w', limit: 10, now: Date.now(), isolated: 'skip', defaults });
      expect(new Map(claimed.map((j) => [j.id, [j.maxAttempts, j.timeoutMs]]))).toEqual(new Map([[dotted.id, [5, 500]], [plain.id, [7, 700]]]));
      expect(await store.getJob(dotted.id)).toMatchObject({ maxAttempts: 5, timeoutMs: 500 });
      expect(await store.getJob(plain.id)).toMatchObject({ maxAttempts: 7, timeoutMs: 700 });
    });

    it('never hands a job to two workers, however many claim at once', async () => {
      const store = await open();
      const other = await factory.openAnother(store);
      await store.addJobs(Array.from({ length: 200 }, () => job()));
      const claims = await Promise.all(Array.from({ length: 10 }, (_, i) => claim(i % 2 === 0 ? store : other, `w${i}`, 30)));
      const all = claims.flat();
      expect(all).toHaveLength(200);
      expect(new Set(ids(all)).size).toBe(200);
    });

    it('runs isolated jobs alone: skip never takes one, alone stops at the first', async () => {
      const store = await open();
      const [a, b, c] = (await store.addJobs([job({ priority: 3 }), job({ priority: 2 }), job({ priority: 1 })])).ids as [number, number, number];
      // b blocked its worker: its next attempt must run alone.
      await claim(store, 'w', 3);
      const held = await store.runningJobs('w');
      expect(ids(held)).toEqual([a, b, c]);
      const claimed = (id: number): ClaimedJob => ({ id, attempt: 1, database: '', service: 'svc', method: 'run', params: '', maxAttempts: 3, timeoutMs: null, isolated: false, parents: 0 });
      const database = (await store.getJob(a))!.database;
      const mark = { ...claimed(b), database };
      await store.complete([failed(mark, 'w', 0, { isolate: true }), failed({ ...claimed(a), database }, 'w', 0), failed({ ...claimed(c), database }, 'w', 0)]);
      expect(await store.getJob(b)).toMatchObject({ state: 'waiting', isolated: true });

      expect(ids(await claim(store, 'x', 10, 'skip'))).toEqual([a, c]);
      await store.release('x', (await store.runningJobs('x')).map((r) => ({ id: r.id, attempt: r.attempt, database })), Date.now());
      // In order, up to the first isolated job: a, then b is isolated, so only a.
      expect(ids(await claim(store, 'y', 10, 'alone'))).toEqual([a]);
      // Now b comes first: taken alone.
      const alone = await claim(store, 'z', 10, 'alone');
      expect(alone.map((j) => [j.id, j.isolated])).toEqual([[b, true]]);
      expect(ids(await claim(store, 'v', 10, 'skip'))).toEqual([c]);
    });

    it('marks jobs isolated when abandoned so, for good: a success or a retry keeps the mark', async () => {
      const store = await open();
      const { id } = await store.addJob(job());
      const { id: other } = await store.addJob(job({ maxAttempts: 1 }));
      await claim(store, 'w', 10);
      expect(await store.abandon('w', Date.now(), lostError, { isolate: true })).toBe(2);
      expect(await store.getJob(id)).toMatchObject({ state: 'waiting', isolated: true });
      expect(await store.getJob(other)).toMatchObject({ state: 'failed', isolated: true });
      const [again] = await claim(store, 'w2', 10, 'alone');
      expect(again).toMatchObject({ id, isolated: true, attempt: 2 });
      await store.complete([ok(again!, 'w2')]);
      expect(await store.getJob(id)).toMatchObject({ state: 'succeeded', isolated: true });
      expect(await store.retry(other, Date.now())).toBe(true);
      expect(await store.getJob(other)).toMatchObject({ state: 'waiting', isolated: true });
    });
  });

  describe('fencing by owner, attempt and database', () => {
    it('records an outcome only from the owner of that attempt', async () => {
      const store = await open();
      const { id } = await store.addJob(job());
      const [first] = await claim(store, 'old');
      expect(await store.complete([ok(first!, 'intruder')])).toEqual({ refused: [id], gone: [] });
      // The old owner is taken for dead; the same job is claimed again, by another worker and then by the old one.
      expect(await store.abandon('old', Date.now(), lostError)).toBe(1);
      const [second] = await claim(store, 'new');
      expect(second).toMatchObject({ id, attempt: 2 });
      expect(await store.complete([ok(first!, 'old', '"stale"')])).toEqual({ refused: [id], gone: [] });
      expect(await store.getJob(id)).toMatchObject({ state: 'running', leaseOwner: 'new', attempts: 2, result: null });
      expect(await store.abandon('new', Date.now(), lostError)).toBe(1);
      const [third] = await claim(store, 'old');
      expect(third).toMatchObject({ id, attempt: 3 });
      // Same owner, older attempt: refused.
      expect(await store.complete([ok(first!, 'old', '"stale"')])).toEqual({ refused: [id], gone: [] });
      expect(await store.complete([ok(third!, 'old', '"fresh"')])).toEqual({ refused: [], gone: [] });
      const done = await store.getJob(id);
      expect(done).toMatchObject({ state: 'succeeded', result: '"fresh"', leaseOwner: null });
      expect(done!.finishedAt).toBeGreaterThan(Date.now() - 60_000);
    });

    it('refuses outcomes, progress and releases for another database, changing nothing', async () => {
      const store = await open();
      const { id } = await store.addJob(job());
      const [j] = await claim(store, 'w');
      const elsewhere = { ...j!, database: 'another-database' };
      expect(await store.complete([ok(elsewhere, 'w')])).toEqual({ refused: [], gone: [id] });
      await store.recordProgress([{ ...ref(elsewhere), owner: 'w', progress: { current: 1, total: 2, at: Date.now() }, notes: [{ level: 'note', message: 'x', at: Date.now() }] }]);
      await store.release('w', [ref(elsewhere)], Date.now());
      expect(await store.getJob(id)).toMatchObject({ state: 'running', leaseOwner: 'w', attempts: 1, progress: null });
      expect(await store.getJobNotes(id)).toEqual([]);
      expect(await store.heartbeat('w', [ref(elsewhere), ref(j!)], Date.now())).toEqual([ref(elsewhere)]);
    });

    it('records a large batch at once, refusing only the jobs another worker holds', async () => {
      const store = await open();
      await store.addJobs(Array.from({ length: 300 }, () => job()));
      const mine = await claim(store, 'a', 290);
      const theirs = await claim(store, 'b', 10);
      const refusals = await store.complete([...mine, ...theirs].map((j, i) => ok(j, 'a', `{"json":${i}}`)));
      expect(refusals).toEqual({ refused: ids(theirs), gone: [] });
      expect(await store.getJob(mine[289]!.id)).toMatchObject({ state: 'succeeded', result: '{"json":289}' });
      expect(await store.getJob(theirs[0]!.id)).toMatchObject({ state: 'running', leaseOwner: 'b', result: null });
      expect(await store.listJobs({ state: 'succeeded' })).toHaveLength(290);
    });

    it('completes and claims in one step, recording everything but the refused', async () => {
      const store = await open();
      const [okId, lostId, failingId, nextId] = (await store.addJobs(Array.from({ length: 4 }, () => job({ maxAttempts: 1 })))).ids;
      const held = await claim(store, 'a', 3);
      await store.release('a', [ref(held[1]!)], Date.now());
      const [taken] = await claim(store, 'b', 1);
      expect(taken!.id).toBe(lostId);
      const { refused, gone, claimed } = await store.completeAndClaim(
        [ok(held[0]!, 'a'), ok(held[1]!, 'a', '"stale"'), failed(held[2]!, 'a', null)],
        { owner: 'a', limit: 10, now: Date.now(), isolated: 'skip' },
      );
      expect({ refused, gone }).toEqual({ refused: [lostId], gone: [] });
      expect(ids(claimed)).toEqual([nextId]);
      expect(await store.getJob(okId!)).toMatchObject({ state: 'succeeded', result: '{"json":1}' });
      expect(await store.getJob(lostId!)).toMatchObject({ state: 'running', leaseOwner: 'b', result: null });
      expect(await store.getJob(failingId!)).toMatchObject({ state: 'failed', error: boom });
      expect(await store.getJob(nextId!)).toMatchObject({ state: 'running', leaseOwner: 'a', attempts: 1 });
    });

    it('records progress and notes of held attempts only', async () => {
      const store = await open();
      const { id, database } = await store.addJob(job());
      const [j] = await claim(store, 'w');
      const at = Date.now();
      const update = (owner: string, attempt: number, message: string): ProgressUpdate =>
        ({ id, attempt, database, owner, progress: { current: attempt, total: 10, at }, notes: [{ level: 'note', message, at }, { level: 'warning', message: `${message}!`, at }] });
      await store.recordProgress([update('w', 1, 'one'), update('w', 2, 'wrong attempt'), update('x', 1, 'wrong owner')]);
      expect((await store.getJob(id))!.progress).toEqual({ current: 1, total: 10, at });
      const notes = await store.getJobNotes(id);
      expect(notes.map((n) => [n.level, n.message, n.at])).toEqual([['note', 'one', at], ['warning', 'one!', at]]);
      expect(await store.getJobNotes(id, notes[0]!.id)).toEqual([notes[1]]);
      expect(await store.getJobNotes(id, 0, database)).toEqual(notes);
      const [pulse] = await store.pulse(database, [id]);
      expect(pulse).toEqual({ id, state: 'running', progress: { current: 1, total: 10, at }, lastNoteId: notes[1]!.id });
      // Notes alone, without progress, keep the last progress.
      await store.recordProgress([{ ...ref(j!), owner: 'w', progress: null, notes: [{ level: 'note', message: 'more', at }] }]);
      expect((await store.getJob(id))!.progress).toEqual({ current: 1, total: 10, at });
      expect(await store.getJobNotes(id)).toHaveLength(3);
    });

    it('gives released jobs back without counting the attempt; a job asked to cancel ends cancelled', async () => {
      const store = await open();
      const { id } = await store.addJob(job());
      const { id: doomed } = await store.addJob(job());
      const [a, b] = await claim(store, 'w');
      await store.release('x', [ref(a!)], Date.now()); // not its owner
      expect(await store.getJob(id)).toMatchObject({ state: 'running' });
      expect(await store.cancel(doomed, Date.now())).toBe('requested');
      await store.release('w', [ref(a!), ref(b!)], Date.now());
      expect(await store.getJob(id)).toMatchObject({ state: 'waiting', attempts: 0, leaseOwner: null, startedAt: null });
      expect(await store.getJob(doomed)).toMatchObject({ state: 'cancelled', attempts: 0 });
      // A second release of the same attempt changes nothing.
      await store.release('w', [ref(a!)], Date.now());
      expect(await store.getJob(id)).toMatchObject({ state: 'waiting', attempts: 0 });
    });
  });

  describe('failures', () => {
    it('puts a failed attempt back for its retry, then fails the job for good, keeping every error', async () => {
      const store = await open();
      const { id } = await store.addJob(job({ maxAttempts: 3 }));
      const [first] = await claim(store, 'w');
      const error = { name: 'Error', message: 'first', stack: 'Error: first\n    at x' };
      await store.complete([failed(first!, 'w', HOUR, { error })]);
      const waiting = await store.getJob(id);
      expect(waiting).toMatchObject({ state: 'waiting', attempts: 1, error, finishedAt: null, leaseOwner: null });
      expect(waiting!.runAt).toBeGreaterThan(Date.now() + HOUR - 60_000);
      expect(await claim(store, 'w')).toEqual([]);
      expect(await store.nextJobAt()).toBe(waiting!.runAt);

      const { id: quick } = await store.addJob(job({ maxAttempts: 2 }));
      const [q1] = await claim(store, 'w');
      await store.complete([failed(q1!, 'w', 0)]);
      const [q2] = await claim(store, 'w2');
      expect(q2).toMatchObject({ id: quick, attempt: 2 });
      expect(await store.abandon('w2', Date.now(), lostError)).toBe(1);
      const gone = await store.getJob(quick);
      expect(gone).toMatchObject({ state: 'failed', attempts: 2, error: lostError });
      expect(gone!.finishedAt).toBeGreaterThan(Date.now() - 60_000);
      const errors = await store.getJobErrors(quick);
      expect(errors.map(({ attempt, name, message }) => ({ attempt, name, message }))).toEqual([
        { attempt: 1, name: 'Error', message: 'boom' },
        { attempt: 2, name: 'WorkerLostError', message: 'its worker died' },
      ]);
      expect(errors[0]!.at).toBeGreaterThan(Date.now() - 60_000);
      expect((await store.getJobErrors(id))[0]).toMatchObject({ attempt: 1, stack: error.stack });
    });

    it('does not put a job someone asked to cancel up for retry', async () => {
      const store = await open();
      const { id } = await store.addJob(job());
      const [j] = await claim(store, 'w');
      expect(await store.cancel(id, Date.now())).toBe('requested');
      expect(await store.cancelRequests('w')).toEqual([id]);
      expect(await store.cancelRequests('other')).toEqual([]);
      await store.complete([failed(j!, 'w', 0)]);
      expect(await store.getJob(id)).toMatchObject({ state: 'cancelled' });
      expect(await store.cancel(id, Date.now())).toBe('finished');
    });

    it('records a cancelled attempt as cancelled', async () => {
      const store = await open();
      const { id, database } = await store.addJob(job());
      const [j] = await claim(store, 'w');
      const error = { name: 'JobCancelledError', message: 'cancelled' };
      expect(await store.complete([{ ...ref(j!), owner: 'w', at: Date.now(), outcome: 'cancelled', error }])).toEqual({ refused: [], gone: [] });
      expect(await store.outcomes(database, [id])).toEqual([{ id, state: 'cancelled', result: null, error }]);
    });
  });

  describe('liveness', () => {
    it('counts beats and tells a worker which attempts it no longer holds', async () => {
      const store = await open();
      await store.addJobs([job(), job()]);
      expect(await store.ownerBeats()).toEqual([]);
      const [a, b] = await claim(store, 'w');
      const before = (await store.ownerBeats()).find((o) => o.owner === 'w')!.beat;
      expect(await store.heartbeat('w', [ref(a!), ref(b!)], Date.now())).toEqual([]);
      expect(await store.heartbeat('w', [ref(a!), ref(b!)], Date.now())).toEqual([]);
      expect(await store.ownerBeats()).toEqual([{ owner: 'w', beat: before + 2 }]);
      // b is taken back and claimed again by another worker; the wrong attempt of a is not held either.
      await store.release('w', [ref(b!)], Date.now());
      await claim(store, 'v', 1);
      expect(await store.heartbeat('w', [ref(a!), ref(b!), { ...ref(a!), attempt: 7 }], Date.now())).toEqual([ref(b!), { ...ref(a!), attempt: 7 }]);
      // An owner never seen holds nothing, and beating for it registers nothing.
      expect(await store.heartbeat('nobody', [ref(a!)], Date.now())).toEqual([ref(a!)]);
      expect((await store.ownerBeats()).map((o) => o.owner).sort()).toEqual(['v', 'w']);
    });

    it('abandons an owner only while its beat stands still, then forgets it', async () => {
      const store = await open();
      const watcher = await factory.openAnother(store);
      const { id } = await store.addJob(job());
      const [j] = await claim(store, 'w');
      const [{ beat }] = await watcher.ownerBeats() as [{ owner: string; beat: number }];
      await store.heartbeat('w', [ref(j!)], Date.now());
      // The watcher saw an older beat: w came back to life, so nothing is taken.
      expect(await watcher.abandon('w', Date.now(), lostError, { beat })).toBe(0);
      expect(await store.getJob(id)).toMatchObject({ state: 'running', leaseOwner: 'w' });
      expect(await watcher.abandon('w', Date.now(), lostError, { beat: beat + 1 })).toBe(1);
      expect(await store.getJob(id)).toMatchObject({ state: 'waiting', attempts: 1, leaseOwner: null, error: lostError });
      expect(await watcher.ownerBeats()).toEqual([]);
      // Forgotten: its late writes change nothing, and it registers anew on its next claim.
      expect(await store.complete([ok(j!, 'w')])).toEqual({ refused: [id], gone: [] });
      const [again] = await claim(store, 'w');
      expect(again).toMatchObject({ id, attempt: 2 });
      expect(await store.ownerBeats()).toEqual([{ owner: 'w', beat: expect.any(Number) }]);
      expect(await store.complete([ok(again!, 'w')])).toEqual({ refused: [], gone: [] });
      expect(await watcher.abandon('nobody', Date.now(), lostError)).toBe(0);
    });

    it('retires an owner that holds nothing, and keeps one that still holds jobs', async () => {
      const store = await open();
      await store.addJobs([job(), job()]);
      const [a] = await claim(store, 'w', 1);
      await store.retire('w');
      expect(await store.ownerBeats()).toEqual([{ owner: 'w', beat: expect.any(Number) }]);
      expect(await store.complete([ok(a!, 'w')])).toEqual({ refused: [], gone: [] });
      await store.retire('w');
      expect(await store.ownerBeats()).toEqual([]);
      const [b] = await claim(store, 'w', 1);
      expect(await store.runningJobs('w')).toEqual([{ id: b!.id, attempt: 1, database: b!.database, maxAttempts: 3, startedAt: expect.any(Number), timeoutMs: null }]);
      expect(await store.runningJobs('nobody')).toEqual([]);
    });

    it('takes back every job of an owner: requeued, failed when out of attempts, cancelled when asked', async () => {
      const store = await open();
      const { ids: [again, spent, cancelled] } = await store.addJobs([job(), job({ maxAttempts: 1 }), job()]);
      await claim(store, 'w');
      await store.cancel(cancelled!, Date.now());
      expect(await store.abandon('w', Date.now(), lostError)).toBe(3);
      expect(await store.getJob(again!)).toMatchObject({ state: 'waiting', attempts: 1 });
      expect(await store.getJob(spent!)).toMatchObject({ state: 'failed', attempts: 1, error: lostError });
      expect(await store.getJob(cancelled!)).toMatchObject({ state: 'cancelled' });
      expect((await store.getJobErrors(again!)).map((e) => e.name)).toEqual(['WorkerLostError']);
    });
  });

  describe('stats and workers', () => {
    it('reports nothing for an empty database', async () => {
      const store = await open();
      const stats = await store.stats(Date.now());
      expect(stats).toEqual({
        at: expect.any(Number), counts: { waiting: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 }, due: 0, oldestDueMs: null, failuresLastHour: [],
      });
      // The caller's clock, or the server's: the same instant here, within the test's own time.
      expect(Math.abs(stats.at - Date.now())).toBeLessThan(60_000);
      expect(await store.workers(Date.now())).toEqual([]);
    });

    it('counts jobs by state in both job tables, due apart from later, and failed attempts per method', async () => {
      const store = await open();
      const { ids: [succeeded, failedForGood, retriedLater, running] } = await store.addJobs([
        job(), job({ method: 'flaky', maxAttempts: 1 }), job({ method: 'flaky' }), job({ method: 'slow' }),
      ]);
      const { ids: [, toCancel] } = await store.addJobs([job({ runAt: future() }), job({ runAt: future() })]);
      const claimed = await claim(store, 'w', 4);
      expect(ids(claimed)).toEqual([succeeded, failedForGood, retriedLater, running]);
      const byId = new Map(claimed.map((j) => [j.id, j]));
      expect(await store.complete([
        ok(byId.get(succeeded!)!, 'w'), failed(byId.get(failedForGood!)!, 'w', null), failed(byId.get(retriedLater!)!, 'w', HOUR),
      ])).toEqual({ refused: [], gone: [] });
      expect(await store.cancel(toCancel!, Date.now())).toBe('cancelled');
      // A lost attempt is a failure of its method too; its job goes back, due since its run time an hour ago.
      const { id: lost } = await store.addJob(job({ service: 'mail', method: 'send' }));
      const [lostClaim] = await claim(store, 'gone', 1);
      expect(lostClaim?.id).toBe(lost);
      expect(await store.abandon('gone', Date.now(), lostError)).toBe(1);

      const stats = await store.stats(Date.now());
      expect(stats.counts).toEqual({ waiting: 3, running: 1, succeeded: 1, failed: 1, cancelled: 1 });
      expect(stats.due).toBe(1); // the lost job; the retry and `later` are scheduled for later
      expect(stats.oldestDueMs).toBeGreaterThan(HOUR - 60_000);
      expect(stats.oldestDueMs).toBeLessThan(HOUR + 60_000);
      expect(stats.failuresLastHour).toEqual([
        { service: 'svc', method: 'flaky', failures: 2 },
        { service: 'mail', method: 'send', failures: 1 },
      ]);
    });

    it('lists the workers it knows, with their running jobs and last heartbeat, until they retire', async () => {
      const store = await open();
      await store.addJobs([job(), job(), job()]);
      const web = 'web-1:4711:3f9a0c1e@5b1e0f9c2a7d.4026531836';
      const jobsOfWeb = await claim(store, web, 2);
      await claim(store, 'odd-name', 1);
      expect(await store.heartbeat(web, jobsOfWeb.map(ref), Date.now())).toEqual([]);
      const workers = await store.workers(Date.now());
      expect(workers).toEqual([
        { owner: 'odd-name', host: null, pid: null, runningJobs: 1, lastHeartbeatAt: null, heartbeatAgeMs: null },
        { owner: web, host: 'web-1', pid: 4711, runningJobs: 2, lastHeartbeatAt: expect.any(Number), heartbeatAgeMs: expect.any(Number) },
      ]);
      expect(Math.abs(workers[1]!.lastHeartbeatAt! - Date.now())).toBeLessThan(60_000);
      expect(workers[1]!.heartbeatAgeMs).toBeGreaterThanOrEqual(0);
      expect(workers[1]!.heartbeatAgeMs).toBeLessThan(60_000);
      // Idle, it is still a worker; retired, it is gone.
      await store.complete(jobsOfWeb.map((j) => ok(j, web)));
      expect((await store.workers(Date.now())).find((w) => w.owner === web)).toMatchObject({ runningJobs: 0 });
      await store.retire(web);
      expect((await store.workers(Date.now())).map((w) => w.owner)).toEqual(['odd-name']);
    });
  });

  describe('cancel and retry', () => {
    it('cancels a waiting job; flags a running one; leaves a finished one; refuses an unknown one', async () => {
      const store = await open();
      const { id, database } = await store.addJob(job({ runAt: future() }));
      expect(await store.cancel(id, Date.now())).toBe('cancelled');
      const cancelled = await store.getJob(id);
      expect(cancelled).toMatchObject({ state: 'cancelled' });
      expect(cancelled!.finishedAt).toBeGreaterThan(Date.now() - 60_000);
      expect(await store.outcomes(database, [id])).toEqual([{ id, state: 'cancelled', result: null, error: null }]);
      expect(await store.cancel(id, Date.now())).toBe('finished');
      await expect(store.cancel(id + 1000, Date.now())).rejects.toMatchObject({ code: 'ERR_JOB_NOT_FOUND' });
    });

    it('retries a failed job with all its attempts, keeping its error history', async () => {
      const store = await open();
      const { id } = await store.addJob(job({ maxAttempts: 1, runAt: past() }));
      const [j] = await claim(store, 'w');
      await store.complete([failed(j!, 'w', null)]);
      expect(await store.retry(id, Date.now())).toBe(true);
      const retried = await store.getJob(id);
      expect(retried).toMatchObject({ state: 'waiting', attempts: 0, error: null, finishedAt: null, result: null });
      expect(retried!.runAt).toBeGreaterThan(Date.now() - 60_000);
      expect(await store.getJobErrors(id)).toHaveLength(1);
      expect(await store.retry(id, Date.now())).toBe(false);
      expect(ids(await claim(store, 'w'))).toEqual([id]);
      await expect(store.retry(id + 1000, Date.now())).rejects.toMatchObject({ code: 'ERR_JOB_NOT_FOUND' });
    });

    it('refuses to retry a job whose key an active job holds', async () => {
      const store = await open();
      const { id } = await store.addJob(job({ key: 'k', maxAttempts: 1 }));
      const [j] = await claim(store, 'w');
      await store.complete([failed(j!, 'w', null)]);
      const active = await store.addJob(job({ key: 'k' }));
      await expect(store.retry(id, Date.now())).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining(`job ${active.id}`) });
      expect(await store.getJob(id)).toMatchObject({ state: 'failed' });
    });
  });

  describe('jobs that wait for other jobs', () => {
    /** Claims everything due for `owner` and records it succeeded. */
    const runAll = async (store: JobStore, owner = 'w'): Promise<number[]> => {
      const claimed = await claim(store, owner, 100);
      await store.complete(claimed.map((j) => ok(j, owner, `{"json":${j.id}}`)));
      return ids(claimed);
    };

    it('runs a diamond in order: d only after b and c, and d sees their results in the order of its after', async () => {
      const store = await open();
      const { ids: [a, b, c, d], database } = await store.addJobs([
        job(),
        job({ after: [{ entry: 0 }] }),
        job({ after: [{ entry: 0 }] }),
        job({ after: [{ entry: 2 }, { entry: 1 }] }),
      ]);
      expect(await store.getJob(d!)).toMatchObject({ state: 'waiting', after: [c, b], waitingFor: 2 });
      expect(await runAll(store)).toEqual([a]);
      expect((await runAll(store)).sort()).toEqual([b, c].sort());
      const [last] = await claim(store, 'w');
      expect(last).toMatchObject({ id: d, parents: 2 });
      expect([...(await store.parentOutcomes(database, [d!])).entries()]).toEqual([[d, [
        { id: c, service: 'svc', method: 'run', state: 'succeeded', result: `{"json":${c}}`, error: null },
        { id: b, service: 'svc', method: 'run', state: 'succeeded', result: `{"json":${b}}`, error: null },
      ]]]);
      expect(await store.dependantsOf(a!)).toEqual([b, c]);
    });

    it('keeps a job that waits for parents out of every claim, whatever its run time, and reports the run time asked for', async () => {
      const store = await open();
      const parent = await store.addJob(job({ runAt: future() }));
      const runAt = past();
      const child = await store.addJob(job({ runAt, after: [{ id: parent.id, database: parent.database }] }));
      expect(await claim(store, 'w', 10, 'alone')).toEqual([]);
      expect(await store.getJob(child.id)).toMatchObject({ runAt, waitingFor: 1 });
    });

    it('a failed parent cancels its waiting dependants at once and transitively, naming it; a sibling branch is untouched', async () => {
      const store = await open();
      const { ids: [a, b, c, d, e] } = await store.addJobs([
        job({ maxAttempts: 1 }),
        job({ after: [{ entry: 0 }], maxAttempts: 1 }),
        job({ after: [{ entry: 0 }], maxAttempts: 1 }),
        job({ after: [{ entry: 1 }, { entry: 2 }] }),
        job({ after: [{ entry: 3 }] }),
      ]);
      await runAll(store);
      const claimed = await claim(store, 'w', 10);
      const jb = claimed.find((j) => j.id === b)!;
      const jc = claimed.find((j) => j.id === c)!;
      await store.complete([failed(jb, 'w', null), ok(jc, 'w')]);
      expect(await store.getJob(c!)).toMatchObject({ state: 'succeeded' });
      for (const id of [d, e]) {
        expect(await store.getJob(id!)).toMatchObject({ state: 'cancelled', error: { name: 'ParentFailedError' } });
      }
      expect(await store.getJob(d!)).toMatchObject({ cancelledBy: b, waitingFor: 0, error: { message: expect.stringContaining(`job ${b}`) } });
      expect(await store.getJob(e!)).toMatchObject({ cancelledBy: d, waitingFor: 0 });
      expect(await claim(store, 'w')).toEqual([]);
      expect(a).toBeDefined();
    });

    it('a dependant of a failed parent and of its sibling is cancelled naming the parent; a retry of the parent brings both back', async () => {
      const store = await open();
      // d runs after b and after c, which runs after b: b's failure cancels c, whose cancel reaches d first.
      const { ids: [b, c, d] } = await store.addJobs([
        job({ maxAttempts: 1 }),
        job({ after: [{ entry: 0 }] }),
        job({ after: [{ entry: 0 }, { entry: 1 }] }),
      ]);
      const [jb] = await claim(store, 'w');
      await store.complete([failed(jb!, 'w', null)]);
      for (const id of [c, d]) {
        expect(await store.getJob(id!)).toMatchObject({ state: 'cancelled', cancelledBy: b, error: { name: 'ParentFailedError', message: expect.stringContaining(`job ${b}`) } });
      }
      expect(await store.retry(b!, 2000)).toBe(true);
      for (const id of [c, d]) expect(await store.getJob(id!)).toMatchObject({ state: 'waiting', cancelledBy: null, error: null });
    });

    it('retrying the failed parent brings back the dependants it cancelled, and the graph finishes', async () => {
      const store = await open();
      const { ids: [b, d, e] } = await store.addJobs([
        job({ maxAttempts: 1 }),
        job({ after: [{ entry: 0 }] }),
        job({ after: [{ entry: 1 }] }),
      ]);
      const [jb] = await claim(store, 'w');
      await store.complete([failed(jb!, 'w', null)]);
      expect(await store.getJob(e!)).toMatchObject({ state: 'cancelled' });
      expect(await store.retry(b!, Date.now())).toBe(true);
      expect(await store.getJob(d!)).toMatchObject({ state: 'waiting', waitingFor: 1, cancelledBy: null, error: null });
      expect(await store.getJob(e!)).toMatchObject({ state: 'waiting', waitingFor: 1 });
      expect(await runAll(store)).toEqual([b]);
      expect(await runAll(store)).toEqual([d]);
      expect(await runAll(store)).toEqual([e]);
    });

    it('a dependant retried by hand waits again for the parents still to run, and is refused while a parent has failed', async () => {
      const store = await open();
      const { ids: [, b, d] } = await store.addJobs([
        job({ runAt: future() }),
        job({ maxAttempts: 1 }),
        job({ after: [{ entry: 0 }, { entry: 1 }] }),
      ]);
      const [jb] = await claim(store, 'w');
      expect(jb?.id).toBe(b);
      await store.complete([failed(jb!, 'w', null)]);
      expect(await store.getJob(d!)).toMatchObject({ state: 'cancelled', cancelledBy: b });
      // Run, it would start before a and without b's result: refused, naming b, and nothing changes.
      await expect(store.retry(d!, Date.now())).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining(`job ${b}, which failed`) });
      expect(await store.getJob(d!)).toMatchObject({ state: 'cancelled', cancelledBy: b });
      // A dependant cancelled by hand, its parents still to run, waits for them again.
      const { ids: [p, c] } = await store.addJobs([job({ runAt: future() }), job({ after: [{ entry: 0 }] })]);
      expect(await store.cancel(c!, Date.now())).toBe('cancelled');
      expect(await store.retry(c!, Date.now())).toBe(true);
      expect(await store.getJob(c!)).toMatchObject({ state: 'waiting', waitingFor: 1, cancelledBy: null });
      expect(await claim(store, 'w', 10)).toEqual([]);
      expect(await store.runNow(p!, Date.now())).toBe(true);
      expect(await runAll(store)).toEqual([p]);
      expect(await runAll(store)).toEqual([c]);
      // One whose parents all succeeded, failed itself, is due at once.
      const { ids: [q, e] } = await store.addJobs([job(), job({ after: [{ entry: 0 }], maxAttempts: 1 })]);
      expect(await runAll(store)).toEqual([q]);
      const [je] = await claim(store, 'w');
      expect(je?.id).toBe(e);
      await store.complete([failed(je!, 'w', null)]);
      expect(await store.retry(e!, Date.now())).toBe(true);
      expect(ids(await claim(store, 'w', 10))).toEqual([e]);
    });

    it("a dependant with onParentFailure 'run' runs after a failed parent and sees the failure", async () => {
      const store = await open();
      const { ids: [a, d], database } = await store.addJobs([job({ maxAttempts: 1 }), job({ after: [{ entry: 0 }], onParentFailure: 'run' })]);
      const [ja] = await claim(store, 'w');
      await store.complete([failed(ja!, 'w', null)]);
      const [jd] = await claim(store, 'w');
      expect(jd?.id).toBe(d);
      expect((await store.parentOutcomes(database, [d!])).get(d!)).toEqual([{ id: a, service: 'svc', method: 'run', state: 'failed', result: null, error: boom }]);
    });

    it('cancelling a waiting job cancels its waiting dependants', async () => {
      const store = await open();
      const parent = await store.addJob(job({ runAt: future() }));
      const child = await store.addJob(job({ after: [{ id: parent.id }] }));
      expect(await store.cancel(parent.id, Date.now())).toBe('cancelled');
      expect(await store.getJob(child.id)).toMatchObject({ state: 'cancelled', cancelledBy: parent.id });
    });

    it('a job added after its parent already ended: runs at once if it succeeded, is cancelled at once if it failed', async () => {
      const store = await open();
      const { ids: [good, bad] } = await store.addJobs([job(), job({ maxAttempts: 1 })]);
      const [jg, jb] = await claim(store, 'w');
      await store.complete([ok(jg!, 'w'), failed(jb!, 'w', null)]);
      const afterGood = await store.addJob(job({ after: [{ id: good! }] }));
      const afterBad = await store.addJob(job({ after: [{ id: bad! }] }));
      expect(await store.getJob(afterGood.id)).toMatchObject({ state: 'waiting', waitingFor: 0 });
      expect(await store.getJob(afterBad.id)).toMatchObject({ state: 'cancelled', cancelledBy: bad });
      expect(ids(await claim(store, 'w'))).toEqual([afterGood.id]);
    });

    it('pruning keeps a parent while a job that runs after it waits, and deletes it once that one ended', async () => {
      const store = await open();
      const { ids: [parent, other, child] } = await store.addJobs([job(), job({ runAt: future() }), job({ after: [{ entry: 0 }, { entry: 1 }] })]);
      const [jp] = await claim(store, 'w');
      await store.complete([ok(jp!, 'w')]);
      const budget = { batch: 100, batches: 10, windows: 10 };
      expect(await store.prune({ succeededBefore: future(), failedBefore: future() }, budget)).toBe(0);
      expect(await store.getJob(parent!)).toMatchObject({ state: 'succeeded' });
      expect(await store.cancel(other!, Date.now())).toBe('cancelled');
      expect(await store.getJob(child!)).toMatchObject({ state: 'cancelled' });
      // The child is the newest job, which pruning never deletes; the parent and the other go.
      expect(await store.prune({ succeededBefore: future(), failedBefore: future() }, budget)).toBe(2);
      expect(await store.getJob(parent!)).toBeUndefined();
      expect(await store.dependantsOf(parent!)).toEqual([child]);
    });

    it('refuses an unknown parent, a later entry, an entry in a single add and a handle from another database, storing nothing', async () => {
      const store = await open();
      const { id } = await store.addJob(job());
      await expect(store.addJob(job({ after: [{ id: id + 1000 }] }))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining(`${id + 1000}`) });
      await expect(store.addJobs([job(), job({ after: [{ entry: 1 }] })])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('entry: 1') });
      await expect(store.addJob(job({ after: [{ entry: 0 }] }))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await expect(store.addJob(job({ after: [{ id, database: 'another' }] }))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('another jobs database') });
      expect(ids(await store.listJobs())).toEqual([id]);
    });
  });

  describe('per-key concurrency', () => {
    const keyed = (key: string, limit = 1, overrides: Partial<NewJob> = {}): NewJob => job({ concurrency: { key, limit }, ...overrides });

    it('never claims more running jobs of a key than its limit, across claims and owners; others pass', async () => {
      const store = await open();
      const { ids: added } = await store.addJobs([keyed('zone', 2), keyed('zone', 2), keyed('zone', 2), job(), keyed('other', 1)]);
      const first = await claim(store, 'a', 10);
      expect(ids(first)).toEqual([added[0], added[1], added[3], added[4]]);
      expect(await claim(store, 'b', 10)).toEqual([]);
      expect(await store.getJob(added[2]!)).toMatchObject({ state: 'waiting', parked: true, concurrency: { key: 'zone', limit: 2 } });
      // A slot frees: the parked job comes back, and only it.
      await store.complete([ok(first[0]!, 'a')]);
      expect(await store.getJob(added[2]!)).toMatchObject({ parked: false });
      expect(ids(await claim(store, 'b', 10))).toEqual([added[2]]);
    });

    it('lets parked jobs through oldest first, one per freed slot, and keeps them out of the way of other jobs', async () => {
      const store = await open();
      const { ids: lock } = await store.addJobs(Array.from({ length: 50 }, () => keyed('lock')));
      const [holder] = await claim(store, 'a', 1);
      expect(holder?.id).toBe(lock[0]);
      expect(await claim(store, 'a', 5)).toEqual([]); // all 49 others parked
      const plain = await store.addJob(job());
      expect(ids(await claim(store, 'a', 5))).toEqual([plain.id]);
      await store.complete([ok(holder!, 'a')]);
      const [next] = await claim(store, 'a', 5);
      expect(next?.id).toBe(lock[1]);
    });

    it('parks a due job at its add when its key is full before it; not one that waits or is not due', async () => {
      const store = await open();
      const { ids: [first, second] } = await store.addJobs([keyed('busy'), keyed('busy')]);
      // Nothing runs yet, but the first is due and a claim takes it first: the second is parked behind it.
      expect(await store.getJob(second!)).toMatchObject({ parked: true });
      const [holder] = await claim(store, 'a', 10);
      expect(holder?.id).toBe(first);
      const parent = await store.addJob(job());
      const at = future();
      const { ids: [due, later, dependant] } = await store.addJobs([
        keyed('busy'), keyed('busy', 1, { runAt: at }), keyed('busy', 1, { after: [{ id: parent.id }] }),
      ]);
      expect(await store.getJob(due!)).toMatchObject({ state: 'waiting', parked: true });
      expect(await store.getJob(later!)).toMatchObject({ parked: false, runAt: at });
      expect(await store.getJob(dependant!)).toMatchObject({ parked: false, waitingFor: 1 });
      // The holder's end lets the oldest parked job through, as for one a claim parked; the one parked at its add
      // stays parked behind it.
      await store.complete([ok(holder!, 'a')]);
      expect(await store.getJob(second!)).toMatchObject({ parked: false });
      expect(ids(await claim(store, 'b', 10)).sort((x, y) => x - y)).toEqual([second, parent.id]);
      expect(await store.getJob(due!)).toMatchObject({ parked: true });
    });

    it('parks a job at its add behind waiting jobs of its key and method that run first, and a cancel of one lets it through', async () => {
      const store = await open();
      const { ids: [waiting, otherMethod, higher, earlier, behind] } = await store.addJobs([
        keyed('k'), keyed('k', 1, { method: 'other' }), keyed('k', 1, { priority: 5 }), keyed('k', 1, { priority: 5, runAt: past() - HOUR }), keyed('k'),
      ]);
      // Not counted for another method's job: a pause of that method would hold them and let nothing through.
      expect(await store.getJob(otherMethod!)).toMatchObject({ parked: false });
      // A claim takes these before the waiting one (higher priority; then due earlier): nothing is ahead of them.
      expect(await store.getJob(higher!)).toMatchObject({ parked: false });
      expect(await store.getJob(earlier!)).toMatchObject({ parked: false });
      // Behind jobs of its method that a claim takes first, with a limit of 1.
      expect(await store.getJob(behind!)).toMatchObject({ parked: true });
      // The cancelled one lets the oldest parked job through.
      expect(await store.cancel(waiting!, Date.now())).toBe('cancelled');
      expect(await store.getJob(behind!)).toMatchObject({ parked: false });
      // Every job still there runs, one at a time.
      const started: number[] = [];
      for (let round = 0; round < 8 && started.length < 4; round++) {
        const taken = await claim(store, 'a', 10);
        expect(taken.length).toBeLessThanOrEqual(1);
        started.push(...ids(taken));
        await store.complete(taken.map((j) => ok(j, 'a')));
      }
      expect([...started].sort((x, y) => x - y)).toEqual([otherMethod!, higher!, earlier!, behind!].sort((x, y) => x - y));
    });

    it('a job parked at its add behind a waiting job of its method runs after a pause and resume of that method', async () => {
      const store = await open();
      const { ids: [first, second] } = await store.addJobs([keyed('k'), keyed('k')]);
      expect(await store.getJob(second!)).toMatchObject({ parked: true });
      await store.pause('svc', 'run', Date.now());
      expect(await claim(store, 'a', 10)).toEqual([]);
      await store.resume('svc', 'run');
      const [one] = await claim(store, 'a', 10);
      expect(one?.id).toBe(first);
      await store.complete([ok(one!, 'a')]);
      expect(ids(await claim(store, 'a', 10))).toEqual([second]);
    });

    it('adds, cancels and claims on one key from two connections at once leave no job parked for good', async () => {
      const store = await open();
      const other = await factory.openAnother(store);
      const added: number[] = [];
      const runOnce = async (s: JobStore, owner: string): Promise<number> => {
        const taken = await claim(s, owner, 3);
        // Fewer than all due jobs of the key: at most its limit of 2 run at once.
        expect(taken.length).toBeLessThanOrEqual(2);
        await s.complete(taken.map((j) => ok(j, owner)));
        return taken.length;
      };
      for (let round = 0; round < 12; round++) {
        // The oldest unfinished jobs are cancelled while new ones are added and others claimed and completed.
        const doomed = added.slice(round * 3, round * 3 + 2);
        await Promise.all([
          store.addJobs(Array.from({ length: 6 }, () => keyed('race', 2))).then(({ ids: more }) => added.push(...more)),
          Promise.all(doomed.map((id) => other.cancel(id, Date.now()))),
          runOnce(other, 'b'),
          runOnce(store, 'a'),
        ]);
      }
      // Drained: every job ends, none is left parked with nothing of its key running.
      for (let idle = 0, rounds = 0; idle < 2 && rounds < 200; rounds++) idle = (await runOnce(store, 'a')) === 0 ? idle + 1 : 0;
      const left = (await Promise.all(added.map((id) => store.getJob(id)))).filter((j) => j?.state !== 'succeeded' && j?.state !== 'cancelled');
      expect(left.map((j) => ({ id: j?.id, state: j?.state, parked: j?.parked }))).toEqual([]);
      expect(added).toHaveLength(72);
    });

    it('one claim gets the jobs behind a key that is full, or a paused method, in the same call', async () => {
      const store = await open();
      await store.addJobs(Array.from({ length: 20 }, () => keyed('busy')));
      const [holder] = await claim(store, 'a', 1);
      expect(holder).toBeDefined();
      await store.addJobs(Array.from({ length: 15 }, () => job({ method: 'held' })));
      await store.pause('svc', 'held', Date.now());
      const { ids: plain } = await store.addJobs([job({ method: 'plain' }), job({ method: 'plain' }), job({ method: 'plain' })]);
      expect(ids(await claim(store, 'a', 10))).toEqual(plain);
      // The holder's end lets one keyed job through: SQLite's claim in the same transaction sees it; PostgreSQL's, in
      // the same statement as the outcome, does not (its trigger runs at the statement's end, and tells workers).
      const { claimed } = await store.completeAndClaim([ok(holder!, 'a')], { owner: 'a', limit: 10, now: Date.now(), isolated: 'skip' });
      const next = claimed.length > 0 ? claimed : await claim(store, 'a', 10);
      expect(next).toHaveLength(1);
      expect((await store.getJob(next[0]!.id))?.concurrency?.key).toBe('busy');
    });

    it('run now never starts a job before the jobs it runs after, nor past its key\'s limit', async () => {
      const store = await open();
      const parent = await store.addJob(job({ runAt: future() }));
      const child = await store.addJob(job({ after: [{ id: parent.id }] }));
      expect(await store.runNow(child.id, Date.now())).toBe(false);
      expect(await claim(store, 'w', 10)).toEqual([]);
      const { ids: [a, b] } = await store.addJobs([keyed('run-now'), keyed('run-now')]);
      expect(ids(await claim(store, 'w', 10))).toEqual([a]);
      expect(await store.getJob(b!)).toMatchObject({ parked: true });
      expect(await store.runNow(b!, Date.now())).toBe(true);
      expect(await claim(store, 'w', 10)).toEqual([]);
    });

    it('a failed keyed job retried by hand keeps its key and its limit', async () => {
      const store = await open();
      const { id } = await store.addJob(keyed('kept', 1, { maxAttempts: 1 }));
      const [j] = await claim(store, 'w');
      await store.complete([failed(j!, 'w', null)]);
      expect(await store.retry(id, Date.now())).toBe(true);
      expect(await store.getJob(id)).toMatchObject({ state: 'waiting', concurrency: { key: 'kept', limit: 1 } });
      await store.addJob(keyed('kept'));
      // Both hold the key: one runs at a time.
      expect(await claim(store, 'w', 10)).toHaveLength(1);
    });

    it('a job taken back from a dead worker frees its slot; a retry waiting for its time holds none', async () => {
      const store = await open();
      const { ids: [x, y] } = await store.addJobs([keyed('k', 1, { maxAttempts: 2 }), keyed('k')]);
      const [jx] = await claim(store, 'dead', 5);
      expect(await claim(store, 'live', 5)).toEqual([]);
      await store.abandon('dead', Date.now(), lostError);
      // x is waiting again (an attempt left) and y came out of the parking: one of them runs, never both.
      const next = await claim(store, 'live', 5);
      expect(next).toHaveLength(1);
      expect([x, y]).toContain(next[0]!.id);
      await store.complete([failed(next[0]!, 'live', 3_600_000)]);
      const other = next[0]!.id === x ? y : x;
      expect(ids(await claim(store, 'live', 5))).toEqual([other]);
      expect(jx?.id).toBe(x);
    });

    it('a job its worker gives back (a stop) frees its slot; one given back asked to cancel ends cancelled and frees it too', async () => {
      const store = await open();
      const { ids: [x, y] } = await store.addJobs([keyed('given'), keyed('given')]);
      const [jx] = await claim(store, 'stopping', 5);
      expect(jx?.id).toBe(x);
      expect(await store.getJob(y!)).toMatchObject({ parked: true });
      await store.release('stopping', [jx!], Date.now());
      // Its slot is free: x (waiting again, the oldest) runs, and y stays behind it.
      const [again] = await claim(store, 'next', 5);
      expect(again?.id).toBe(x);
      expect(await claim(store, 'next', 5)).toEqual([]);
      expect(await store.cancel(x!, Date.now())).toBe('requested');
      await store.release('next', [again!], Date.now());
      expect(await store.getJob(x!)).toMatchObject({ state: 'cancelled' });
      expect(ids(await claim(store, 'last', 5))).toEqual([y]);
    });

    it('reports the keys in use with running and parked counts, most parked first; idle keys and cancelled parked jobs drop out', async () => {
      const store = await open();
      expect(await store.concurrencyKeys(10)).toEqual([]);
      const { ids: added } = await store.addJobs([
        keyed('a', 1), keyed('a', 1), keyed('a', 1), keyed('b', 2), keyed('b', 2), keyed('b', 2), keyed('c', 3),
      ]);
      const running = await claim(store, 'w', 10);
      // a: 1 running, 2 parked; b: 2 running, 1 parked; c: 1 running, none parked.
      expect(ids(running).sort((x, y) => x - y)).toEqual([added[0], added[3], added[4], added[6]]);
      expect(await store.concurrencyKeys(10)).toEqual([
        { key: 'a', running: 1, parked: 2, limit: 1 },
        { key: 'b', running: 2, parked: 1, limit: 2 },
        { key: 'c', running: 1, parked: 0, limit: null },
      ]);
      expect(await store.concurrencyKeys(1)).toEqual([{ key: 'a', running: 1, parked: 2, limit: 1 }]);
      // c's job ends: c is idle and goes; a parked job of a, cancelled, leaves the count.
      await store.complete([ok(running.find((j) => j.id === added[6])!, 'w')]);
      await store.cancel(added[2]!, Date.now());
      // Equal parked counts: the one running more first.
      expect(await store.concurrencyKeys(10)).toEqual([
        { key: 'b', running: 2, parked: 1, limit: 2 },
        { key: 'a', running: 1, parked: 1, limit: 1 },
      ]);
    });
  });

  describe('debounce', () => {
    it('an add that finds a waiting job with its debounce key updates that job: params, run time, capped by its untilAt', async () => {
      const store = await open();
      const at = Date.now();
      const first = await store.addJob(job({ params: '{"json":1}', runAt: at + 1000, debounce: { key: 'd', untilAt: at + 1500 } }));
      const second = await store.addJob(job({ params: '{"json":2}', runAt: at + 1200, debounce: { key: 'd', untilAt: at + 9999 } }));
      expect(second.id).toBe(first.id);
      expect(await store.getJob(first.id)).toMatchObject({ params: '{"json":2}', runAt: at + 1200 });
      const third = await store.addJob(job({ params: '{"json":3}', runAt: at + 2000, debounce: { key: 'd', untilAt: null } }));
      expect(third.id).toBe(first.id);
      expect(await store.getJob(first.id)).toMatchObject({ params: '{"json":3}', runAt: at + 1500 });
      // Another key, or another method, is another job.
      const other = await store.addJob(job({ debounce: { key: 'e', untilAt: null } }));
      const otherMethod = await store.addJob(job({ method: 'other', debounce: { key: 'd', untilAt: null } }));
      expect(new Set([first.id, other.id, otherMethod.id]).size).toBe(3);
    });

    it('once the job runs, the next add makes a new one; concurrent adds in one batch all join one job', async () => {
      const store = await open();
      const a = await store.addJob(job({ debounce: { key: 'd', untilAt: null } }));
      const [claimed] = await claim(store, 'w');
      expect(claimed?.id).toBe(a.id);
      const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => store.addJob(job({ params: `{"json":${i}}`, debounce: { key: 'd', untilAt: null } }))));
      expect(new Set(burst.map((added) => added.id)).size).toBe(1);
      expect(burst[0]!.id).not.toBe(a.id);
      expect(await store.getJob(burst[0]!.id)).toMatchObject({ params: '{"json":9}' });
      const { ids: many } = await store.addJobs([job({ runAt: future(), debounce: { key: 'm', untilAt: null } }), job({ runAt: future(), debounce: { key: 'm', untilAt: null } })]);
      expect(many[0]).toBe(many[1]);
    });
  });

  describe('rate limits', () => {
    it('starts at most the limit in a window; the others move to later slots, their attempts unused; unknown names refused', async () => {
      const store = await open();
      await store.setRateLimit({ name: 'api', limit: 2, perMs: 60_000 });
      expect(await store.listRateLimits()).toEqual([{ name: 'api', limit: 2, perMs: 60_000 }]);
      const { ids: limited } = await store.addJobs(Array.from({ length: 5 }, () => job({ rateLimit: 'api' })));
      const plain = await store.addJob(job());
      const first = await claim(store, 'w', 10);
      expect(ids(first).sort((a, b) => a - b)).toEqual([limited[0], limited[1], plain.id]);
      expect(await claim(store, 'w', 10)).toEqual([]);
      for (const id of limited.slice(2)) {
        const moved = await store.getJob(id!);
        expect(moved).toMatchObject({ state: 'waiting', attempts: 0, rateLimit: 'api' });
        expect(moved!.runAt).toBeGreaterThan(Date.now() + 50_000);
      }
      await expect(store.addJob(job({ rateLimit: 'nope' }))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('"nope"') });
      expect((await store.listJobs()).length).toBe(6);
    });

    it('a window that has passed has room again', async () => {
      const store = await open();
      // Half a second: a claim that moves a job runs again at once (the job took a place). With 200 ms, one loaded CI
      // run claimed both: most likely its two statements were that far apart, and the moved job was due again.
      await store.setRateLimit({ name: 'fast', limit: 1, perMs: 500 });
      const { ids: [a, b] } = await store.addJobs([job({ rateLimit: 'fast' }), job({ rateLimit: 'fast' })]);
      expect(ids(await claim(store, 'w', 10))).toEqual([a]);
      await sleep(550);
      expect(ids(await claim(store, 'w', 10))).toEqual([b]);
    });

    it('reports each limit\'s starts in its window and, when it is full, when the next may start; starts out of the window are left out', async () => {
      const store = await open();
      expect(await store.rateLimitUse(Date.now())).toEqual([]);
      await store.setRateLimit({ name: 'mail', limit: 3, perMs: 60_000 });
      await store.setRateLimit({ name: 'api', limit: 2, perMs: 60_000 });
      await store.setRateLimit({ name: 'fast', limit: 1, perMs: 200 });
      expect(await store.rateLimitUse(Date.now())).toEqual([
        { name: 'api', limit: 2, perMs: 60_000, recentStarts: 0, freeAt: null },
        { name: 'fast', limit: 1, perMs: 200, recentStarts: 0, freeAt: null },
        { name: 'mail', limit: 3, perMs: 60_000, recentStarts: 0, freeAt: null },
      ]);
      // Starts through the claim, at two moments. A start's instant is its job's startedAt (the server's clock on
      // PostgreSQL, the claim's `now` on SQLite): freeAt is compared with that, whatever the clocks.
      const { ids: [api1, mail1] } = await store.addJobs([job({ rateLimit: 'api' }), job({ rateLimit: 'mail' })]);
      expect(ids(await claim(store, 'w', 10)).sort((a, b) => a - b)).toEqual([api1, mail1]);
      await sleep(20);
      const { ids: [api2, api3, fast1] } = await store.addJobs([job({ rateLimit: 'api' }), job({ rateLimit: 'api' }), job({ rateLimit: 'fast' })]);
      expect(ids(await claim(store, 'w', 10)).sort((a, b) => a - b)).toEqual([api2, fast1]);
      const startedAt = async (id: number | undefined): Promise<number> => (await store.getJob(id!))!.startedAt!;
      const [first, second, fast] = [await startedAt(api1), await startedAt(api2), await startedAt(fast1)];
      expect(second).toBeGreaterThan(first);
      // api is full: room again when its oldest start leaves the window; mail has room; fast is full for now.
      expect(await store.rateLimitUse(Date.now())).toEqual([
        { name: 'api', limit: 2, perMs: 60_000, recentStarts: 2, freeAt: first + 60_000 },
        { name: 'fast', limit: 1, perMs: 200, recentStarts: 1, freeAt: fast + 200 },
        { name: 'mail', limit: 3, perMs: 60_000, recentStarts: 1, freeAt: null },
      ]);
      expect((await store.getJob(api3!))!.runAt).toBe(first + 60_000);
      // fast's start leaves its window; no claim under it has run since, so the log may still hold it.
      await sleep(250);
      expect((await store.rateLimitUse(Date.now()))[1]).toEqual({ name: 'fast', limit: 1, perMs: 200, recentStarts: 0, freeAt: null });
      // A limit lowered under the starts in its window: room again once all but the new limit have left it.
      await store.setRateLimit({ name: 'api', limit: 1, perMs: 60_000 });
      expect((await store.rateLimitUse(Date.now()))[0]).toEqual({ name: 'api', limit: 1, perMs: 60_000, recentStarts: 2, freeAt: second + 60_000 });
    });
  });

  describe('pause and resume', () => {
    it('a paused method is not claimed, whoever claims; adds succeed; others pass; resume makes its jobs due again', async () => {
      const store = await open();
      const { ids: [a, b] } = await store.addJobs([job({ method: 'send' }), job({ method: 'send' })]);
      const other = await store.addJob(job({ method: 'other' }));
      expect(await store.pause('svc', 'send', Date.now())).toBe(true);
      expect(await store.pause('svc', 'send', Date.now())).toBe(false);
      const later = await store.addJob(job({ method: 'send' }));
      expect(ids(await claim(store, 'w1', 10))).toEqual([other.id]);
      expect(await claim(store, 'w2', 10, 'alone')).toEqual([]);
      expect(await store.getJob(a!)).toMatchObject({ state: 'waiting', held: true });
      expect(await store.listPaused()).toEqual([{ service: 'svc', method: 'send', at: expect.any(Number) }]);
      expect(await store.resume('svc', 'send')).toBe(true);
      expect(await store.resume('svc', 'send')).toBe(false);
      expect(ids(await claim(store, 'w1', 10)).sort((x, y) => x - y)).toEqual([a, b, later.id]);
      expect(await store.listPaused()).toEqual([]);
    });

    it('a whole service paused holds all its methods; a method paused on its own stays paused when the service resumes', async () => {
      const store = await open();
      await store.addJobs([job({ method: 'one' }), job({ method: 'two' })]);
      await store.pause('svc', null, Date.now());
      await store.pause('svc', 'two', Date.now());
      expect(await claim(store, 'w', 10)).toEqual([]);
      await store.resume('svc', null);
      const claimed = await claim(store, 'w', 10);
      expect(claimed.map((j) => j.method)).toEqual(['one']);
      await store.resume('svc', 'two');
      expect((await claim(store, 'w', 10)).map((j) => j.method)).toEqual(['two']);
    });

    it('a running job of a paused method finishes; its retry waits for the resume', async () => {
      const store = await open();
      await store.addJob(job({ method: 'send' }));
      const [running] = await claim(store, 'w', 10);
      await store.pause('svc', 'send', Date.now());
      await store.complete([failed(running!, 'w', 0)]);
      expect(await claim(store, 'w', 10)).toEqual([]);
      await store.resume('svc', 'send');
      expect(ids(await claim(store, 'w', 10))).toEqual([running!.id]);
    });
  });

  describe('reading', () => {
    it('reads the outcomes of the finished jobs among many ids at once', async () => {
      const store = await open();
      const { ids: [good, bad, waiting], database } = await store.addJobs([job(), job({ maxAttempts: 1 }), job({ runAt: future() })]);
      const claimed = await claim(store, 'w');
      await store.complete([ok(claimed[0]!, 'w'), failed(claimed[1]!, 'w', null)]);
      const outcomes = await store.outcomes(database, [waiting!, bad!, good!, 999_999]);
      expect(outcomes).toHaveLength(2);
      expect(outcomes).toEqual(expect.arrayContaining([
        { id: good, state: 'succeeded', result: '{"json":1}', error: null },
        { id: bad, state: 'failed', result: null, error: boom },
      ]));
      expect(await store.outcomes(database, [])).toEqual([]);
      const pulses = await store.pulse(database, [good!, waiting!, 999_999]);
      expect(pulses).toEqual(expect.arrayContaining([
        { id: good, state: 'succeeded', progress: null, lastNoteId: 0 },
        { id: waiting, state: 'waiting', progress: null, lastNoteId: 0 },
      ]));
      expect(pulses).toHaveLength(2);
    });

    it('lists jobs newest first, by state, tag and limit', async () => {
      const store = await open();
      const a = await store.addJob(job({ tags: ['x'] }));
      const b = await store.addJob(job());
      const c = await store.addJob(job({ tags: ['x', 'y'] }));
      const [first] = await claim(store, 'w', 1);
      await store.complete([ok(first!, 'w')]);
      expect(ids(await store.listJobs())).toEqual(ids([c, b, a]));
      expect(ids(await store.listJobs({ state: 'succeeded' }))).toEqual([a.id]);
      expect(ids(await store.listJobs({ state: 'waiting' }))).toEqual(ids([c, b]));
      expect(ids(await store.listJobs({ tag: 'x' }))).toEqual(ids([c, a]));
      expect(ids(await store.listJobs({ limit: 2 }))).toEqual(ids([c, b]));
      expect((await store.listJobs())[0]!.database).toBe(a.database);
    });

    it('tells the earliest run time of any waiting job, due or not, across priorities', async () => {
      const store = await open();
      expect(await store.nextJobAt()).toBeNull();
      const base = future();
      await store.addJob(job({ priority: 10, runAt: base + 9000 }));
      await store.addJob(job({ priority: -5, runAt: base + 7000 }));
      await store.addJob(job({ priority: 0, runAt: base + 8000 }));
      expect(await store.nextJobAt()).toBe(base + 7000);
      for (let p = 100; p < 130; p++) await store.addJob(job({ priority: p, runAt: base + 10_000 + p }));
      await store.addJob(job({ priority: -50, runAt: base + 6000 }));
      expect(await store.nextJobAt()).toBe(base + 6000);
      // Running jobs do not count; a due job does.
      const due = past();
      await store.addJob(job({ priority: 1000, runAt: due }));
      expect(await store.nextJobAt()).toBe(due);
      await claim(store, 'w', 1);
      expect(await store.nextJobAt()).toBe(base + 6000);
    });
  });

  describe('a replaced database', () => {
    it('refuses what belongs to the database that was deleted, and uses the new one', async () => {
      const store = await open();
      const { id, database } = await store.addJob(job());
      const [j] = await claim(store, 'w');
      await factory.replaceDatabase(store);
      const fresh = await store.addJob(job());
      expect(fresh.database).not.toBe(database);
      await expect(store.pulse(database, [id])).rejects.toMatchObject({ code: 'ERR_DATABASE_REPLACED' });
      await expect(store.outcomes(database, [id])).rejects.toMatchObject({ code: 'ERR_DATABASE_REPLACED' });
      await expect(store.getJobNotes(id, 0, database)).rejects.toMatchObject({ code: 'ERR_DATABASE_REPLACED' });
      expect(await store.getJobNotes(fresh.id, 0, fresh.database)).toEqual([]);
      // The old attempt is gone, even if the new database gave its id to another job.
      expect(await store.heartbeat('w', [ref(j!)], Date.now())).toEqual([ref(j!)]);
      expect(await store.complete([ok(j!, 'w')])).toEqual({ refused: [], gone: [j!.id] });
      const [claimed] = await claim(store, 'w');
      expect(claimed).toMatchObject({ id: fresh.id, database: fresh.database, attempt: 1 });
    });
  });

  describe('recurring jobs', () => {
    it('replaces by signature; an unchanged schedule keeps its next run', async () => {
      const store = await open();
      const base = past();
      const first = await store.upsertRecurring(recurring({ params: '{"json":1}', nextRunAt: base + 5000, anchor: base }));
      expect(first).toMatchObject({ service: 'svc', method: 'tick', name: '', everyMs: 1000, cron: null, tz: null, misfire: 'once', priority: 0, maxAttempts: 3, timeoutMs: null });
      const again = await store.upsertRecurring(recurring({ params: '{"json":2}', nextRunAt: base + 9000, anchor: base + 9000 }));
      expect(again).toMatchObject({ id: first.id, params: '{"json":2}', nextRunAt: base + 5000, anchor: base });
      const changed = await store.upsertRecurring(recurring({ everyMs: 5000, nextRunAt: base + 9000, anchor: base + 9000 }));
      expect(changed).toMatchObject({ id: first.id, everyMs: 5000, nextRunAt: base + 9000, anchor: base + 9000 });
      const cron = await store.upsertRecurring(recurring({ everyMs: null, cron: '0 * * * *', tz: 'Europe/Berlin', nextRunAt: base + 1 }));
      expect(cron).toMatchObject({ id: first.id, everyMs: null, cron: '0 * * * *', tz: 'Europe/Berlin', nextRunAt: base + 1 });
      const named = await store.upsertRecurring(recurring({ name: 'other' }));
      expect(named.id).not.toBe(first.id);
      expect((await store.listRecurring()).map((r) => r.name)).toEqual(['', 'other']);
    });

    it('enqueues each occurrence once, however many schedulers try', async () => {
      const store = await open();
      const base = past();
      const record = await store.upsertRecurring(recurring({ nextRunAt: base }));
      expect(await store.nextRecurringAt()).toBe(base);
      expect(ids(await store.dueRecurring(base - 1))).toEqual([]);
      expect(ids(await store.dueRecurring(base))).toEqual([record.id]);
      expect(await store.fireRecurring(record.id, base, [base], base + 1000, Date.now())).toBe(true);
      // A second scheduler that read the old next run loses the compare-and-set.
      expect(await store.fireRecurring(record.id, base, [base], base + 1000, Date.now())).toBe(false);
      const jobs = await store.listJobs();
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toMatchObject({ recurringId: record.id, fireTime: base, runAt: base, service: 'svc', method: 'tick', state: 'waiting' });
      expect(await store.nextRecurringAt()).toBe(base + 1000);
      // Even with the schedule moved back, an occurrence is never enqueued twice.
      await store.upsertRecurring(recurring({ everyMs: 2000, nextRunAt: base }));
      expect(await store.fireRecurring(record.id, base, [base, base + 2000], base + 4000, Date.now())).toBe(true);
      expect((await store.listJobs()).map((j) => j.fireTime).sort()).toEqual([base, base + 2000]);
    });

    it('lets one of many concurrent schedulers fire each run', async () => {
      const store = await open();
      const other = await factory.openAnother(store);
      const base = past();
      const record = await store.upsertRecurring(recurring({ nextRunAt: base }));
      const fired = await Promise.all(Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? store : other).fireRecurring(record.id, base, [base, base + 1000], base + 2000, Date.now())));
      expect(fired.filter(Boolean)).toHaveLength(1);
      expect((await store.listJobs()).map((j) => j.fireTime).sort()).toEqual([base, base + 1000]);
    });

    it('pauses a recurring job: nothing due or fired until resumed, kept paused when added again; resuming skips what fell meanwhile', async () => {
      const store = await open();
      const base = past();
      const record = await store.upsertRecurring(recurring({ nextRunAt: base }));
      const other = await store.upsertRecurring(recurring({ name: 'other', nextRunAt: base + 500 }));
      expect(record.pausedAt).toBeNull();
      expect(await store.pauseRecurring(record.id, base + 10)).toBe(true);
      expect(await store.pauseRecurring(record.id, base + 20)).toBe(true); // the first pause's time stays
      expect(await store.pauseRecurring(999_999, base)).toBe(false);
      expect(ids(await store.dueRecurring(Date.now()))).toEqual([other.id]);
      expect(await store.nextRecurringAt()).toBe(base + 500);
      // A scheduler that read it before the pause cannot fire it.
      expect(await store.fireRecurring(record.id, base, [base], base + 1000, Date.now())).toBe(false);
      expect(await store.listJobs()).toEqual([]);
      // Registered again at a start-up, with the same schedule: still paused, next run kept.
      const again = await store.upsertRecurring(recurring({ params: '{"json":2}', nextRunAt: Date.now() }));
      expect(again).toMatchObject({ id: record.id, pausedAt: base + 10, nextRunAt: base, params: '{"json":2}' });
      expect((await store.listRecurring()).find((r) => r.id === record.id)).toMatchObject({ pausedAt: base + 10 });
      // Resumed: the next run moves to the given time if later, and it is due again from then.
      const resumeAt = Date.now() + HOUR;
      expect(await store.resumeRecurring(record.id, resumeAt)).toBe(true);
      expect((await store.listRecurring()).find((r) => r.id === record.id)).toMatchObject({ pausedAt: null, nextRunAt: resumeAt });
      expect(ids(await store.dueRecurring(resumeAt))).toEqual([other.id, record.id]);
      // Resuming one that runs changes nothing; an unknown id says so.
      expect(await store.resumeRecurring(record.id, resumeAt + HOUR)).toBe(true);
      expect((await store.listRecurring()).find((r) => r.id === record.id)).toMatchObject({ pausedAt: null, nextRunAt: resumeAt });
      expect(await store.resumeRecurring(999_999, resumeAt)).toBe(false);
      // A pause shorter than the time to its next run keeps that next run.
      await store.pauseRecurring(record.id, Date.now());
      await store.resumeRecurring(record.id, Date.now());
      expect((await store.listRecurring()).find((r) => r.id === record.id)).toMatchObject({ pausedAt: null, nextRunAt: resumeAt });
    });

    it('clears or removes recurring jobs but keeps the jobs they added', async () => {
      const store = await open();
      const base = past();
      const record = await store.upsertRecurring(recurring({ nextRunAt: base }));
      await store.upsertRecurring(recurring({ name: 'b' }));
      await store.fireRecurring(record.id, base, [base], base + 1000, Date.now());
      expect(await store.removeRecurring('svc', 'tick', 'b')).toBe(true);
      expect(await store.removeRecurring('svc', 'tick', 'b')).toBe(false);
      expect((await store.listRecurring()).map((r) => r.name)).toEqual(['']);
      expect(await store.clearRecurring()).toBe(1);
      expect(await store.listRecurring()).toEqual([]);
      expect(await store.nextRecurringAt()).toBeNull();
      expect(await store.listJobs()).toHaveLength(1);
    });
  });

  describe('pruning', () => {
    /** Finishes `jobs` (claimed by 'w'): the first `succeed` succeed, the rest fail for good. */
    const finish = async (store: JobStore, jobs: readonly ClaimedJob[], succeed: number): Promise<void> => {
      await store.complete(jobs.map((j, i) => (i < succeed ? ok(j, 'w') : failed(j, 'w', null))));
    };

    it('deletes finished jobs past their retention with their errors and notes, and nothing else', async () => {
      const store = await open();
      const { ids: [oldOk, oldFailed] } = await store.addJobs([job({ maxAttempts: 1 }), job({ maxAttempts: 1 })]);
      const old = await claim(store, 'w');
      await store.recordProgress([{ ...ref(old[0]!), owner: 'w', progress: null, notes: [{ level: 'note', message: 'n', at: Date.now() }] }]);
      await finish(store, old, 1);
      await sleep(30);
      const cutoff = Date.now();
      await sleep(30);
      const { ids: [recentOk, running, waiting, newest] } = await store.addJobs([job(), job(), job({ runAt: future() }), job({ runAt: future() })]);
      const recent = await claim(store, 'w', 2);
      await finish(store, recent.slice(0, 1), 1);
      const budget = { batch: 100, batches: 10, windows: 10 };
      expect(await store.prune({ succeededBefore: cutoff, failedBefore: null }, budget)).toBe(1);
      expect(await store.getJob(oldOk!)).toBeUndefined();
      expect(await store.getJobNotes(oldOk!)).toEqual([]);
      expect(await store.getJob(oldFailed!)).toBeDefined();
      expect(await store.prune({ succeededBefore: null, failedBefore: cutoff }, budget)).toBe(1);
      expect(await store.getJob(oldFailed!)).toBeUndefined();
      expect(await store.getJobErrors(oldFailed!)).toEqual([]);
      for (const id of [recentOk, running, waiting, newest]) expect(await store.getJob(id!)).toBeDefined();
      // Everything finished is past a cutoff an hour ahead; waiting and running jobs stay anyway.
      expect(await store.prune({ succeededBefore: future(), failedBefore: future() }, budget)).toBe(1);
      expect(ids(await store.listJobs()).sort((a, b) => a - b)).toEqual([running!, waiting!, newest!]);
    });

    it('never deletes the newest job, so no id is handed out twice', async () => {
      const store = await open();
      await store.addJobs([job(), job()]);
      const done = await claim(store, 'w');
      await finish(store, done, 2);
      const newest = done[1]!.id;
      expect(await store.prune({ succeededBefore: future(), failedBefore: future() }, { batch: 10, batches: 10, windows: 10 })).toBe(1);
      expect(await store.getJob(newest)).toMatchObject({ state: 'succeeded' });
      expect((await store.addJob(job())).id).toBeGreaterThan(newest);
    });

    it('deletes at most its budget per call, and goes on where it stopped', async () => {
      const store = await open();
      await store.addJobs(Array.from({ length: 251 }, () => job()));
      const done = await claim(store, 'w', 250);
      await finish(store, done, 250);
      const cutoffs = { succeededBefore: future(), failedBefore: null };
      const calls: number[] = [];
      for (let call = 0; call < 4; call++) calls.push(await store.prune(cutoffs, { batch: 40, batches: 2, windows: 5 }));
      expect(calls).toEqual([80, 80, 80, 10]);
      expect(await store.prune(cutoffs, { batch: 40, batches: 2, windows: 5 })).toBe(0);
      expect(await store.listJobs()).toHaveLength(1);
    });
  });

  describe('dashboard reads and actions', () => {
    /** Ten jobs: odd ones tagged `odd` in service `a`, the rest in `b`; job 7 has `needle` in its params; 3 and 4 finished. */
    async function tenJobs(store: JobStore): Promise<number[]> {
      const { ids: added } = await store.addJobs(Array.from({ length: 10 }, (_, i) => job({
        service: i % 2 === 1 ? 'a' : 'b', params: i === 7 ? '{"json":{"q":"a NEEDLE here"}}' : `{"json":${i}}`,
        tags: i % 2 === 1 ? ['odd'] : null, key: i === 2 ? 'k2' : null, createdAt: 1000 + i,
      })));
      return added;
    }

    it('searches newest first, page by page by keyset, with every filter', async () => {
      const store = await open();
      const added = await tenJobs(store);
      const first = await store.searchJobs({}, { limit: 4 });
      expect(ids(first.jobs)).toEqual(added.slice(6).reverse());
      const second = await store.searchJobs({}, { limit: 4, beforeId: first.next! });
      expect(ids(second.jobs)).toEqual(added.slice(2, 6).reverse());
      const third = await store.searchJobs({}, { limit: 4, beforeId: second.next! });
      expect(ids(third.jobs)).toEqual(added.slice(0, 2).reverse());
      expect(third.next).toBeNull();
      expect(ids((await store.searchJobs({ service: 'a', tag: 'odd' }, { limit: 100 })).jobs)).toEqual([9, 7, 5, 3, 1].map((i) => added[i]));
      expect(ids((await store.searchJobs({ service: 'b', tag: 'odd' }, { limit: 100 })).jobs)).toEqual([]);
      expect(ids((await store.searchJobs({ text: 'needle' }, { limit: 100 })).jobs)).toEqual([added[7]]);
      expect(ids((await store.searchJobs({ key: 'k2', method: 'run' }, { limit: 100 })).jobs)).toEqual([added[2]]);
      expect(ids((await store.searchJobs({ createdFrom: 1003, createdBefore: 1005 }, { limit: 100 })).jobs)).toEqual([added[4], added[3]]);
      const [c1, c2] = await claim(store, 'w', 2);
      await store.complete([ok(c1!, 'w'), failed(c2!, 'w', null, { error: { name: 'Error', message: 'Disk FULL' } })]);
      expect(ids((await store.searchJobs({ states: ['succeeded', 'failed'] }, { limit: 100 })).jobs).sort()).toEqual([c1!.id, c2!.id].sort());
      expect(ids((await store.searchJobs({ states: ['waiting'] }, { limit: 100 })).jobs)).toHaveLength(8);
      expect(ids((await store.searchJobs({ text: 'disk full' }, { limit: 100 })).jobs)).toEqual([c2!.id]);
      expect((await store.searchJobs({ states: [] }, { limit: 100 })).jobs).toEqual([]);
    });

    it('reads at most scanIds ids a request and says where to go on', async () => {
      const store = await open();
      const added = await tenJobs(store);
      // Only job 1 of the oldest five matches; the first window (the newest five ids) has none of them.
      const search = { service: 'a', createdBefore: 1002 };
      const first = await store.searchJobs(search, { limit: 3, scanIds: 5 });
      expect(first.jobs).toEqual([]);
      expect(first.next).toBe(added[5]);
      const second = await store.searchJobs(search, { limit: 3, beforeId: first.next!, scanIds: 5 });
      expect(ids(second.jobs)).toEqual([added[1]]);
      expect(second.next).toBeNull();
    });

    it('counts up to a cap', async () => {
      const store = await open();
      await tenJobs(store);
      expect(await store.countJobs({}, 1000)).toBe(10);
      expect(await store.countJobs({}, 4)).toBe(4);
      expect(await store.countJobs({ tag: 'odd', states: ['waiting'] }, 1000)).toBe(5);
      expect(await store.countJobs({ text: 'needle', service: 'a' }, 1000)).toBe(1);
      expect(await store.countJobs({ states: ['failed'] }, 1000)).toBe(0);
    });

    it('runs a waiting job now, and only a waiting one', async () => {
      const store = await open();
      const { id } = await store.addJob(job({ runAt: future() }));
      expect(await claim(store, 'w')).toEqual([]);
      expect(await store.runNow(id, Date.now())).toBe(true);
      const [claimed] = await claim(store, 'w');
      expect(claimed?.id).toBe(id);
      expect(await store.runNow(id, Date.now())).toBe(false);
      await expect(store.runNow(id + 100, Date.now())).rejects.toMatchObject({ code: 'ERR_JOB_NOT_FOUND' });
    });

    it('deletes a finished job with its errors, not an active one', async () => {
      const store = await open();
      const { ids: [a, b] } = await store.addJobs([job({ maxAttempts: 1 }), job()]);
      expect(await store.deleteJob(b!)).toBe('active');
      const [claimed] = await claim(store, 'w', 1);
      await store.complete([failed(claimed!, 'w', null)]);
      expect(await store.getJobErrors(a!)).toHaveLength(1);
      expect(await store.deleteJob(a!)).toBe('deleted');
      expect(await store.getJob(a!)).toBeUndefined();
      expect(await store.getJobErrors(a!)).toEqual([]);
      await expect(store.deleteJob(a!)).rejects.toMatchObject({ code: 'ERR_JOB_NOT_FOUND' });
    });

    it("deletes a finished job's links to the jobs it ran after: it is no longer one of their dependants", async () => {
      const store = await open();
      const { ids: [parent, dependant] } = await store.addJobs([job({ maxAttempts: 1 }), job({ after: [{ entry: 0 }] }), job()]);
      const [claimed] = await claim(store, 'w', 1);
      expect(claimed?.id).toBe(parent);
      await store.complete([failed(claimed!, 'w', null)]);
      expect(await store.getJob(dependant!)).toMatchObject({ state: 'cancelled', cancelledBy: parent });
      expect(await store.dependantsOf(parent!)).toEqual([dependant]);
      expect(await store.deleteJob(dependant!)).toBe('deleted');
      expect(await store.dependantsOf(parent!)).toEqual([]);
    });

    it('reports recent finished jobs and failed attempts from a point on', async () => {
      const store = await open();
      const start = await store.attemptFailures(null, 100);
      const { ids: added } = await store.addJobs([job({ service: 'x', method: 'one' }), job({ service: 'y', method: 'two' })]);
      const [one, two] = await claim(store, 'w', 2);
      const since = Date.now() - 60_000;
      await store.complete([ok(one!, 'w'), failed(two!, 'w', 3_600_000)]);
      const recent = await store.activity(since, 1000);
      expect(recent.newestJobId).toBe(added[1]);
      expect(recent.finished).toEqual([expect.objectContaining({ id: added[0], service: 'x', method: 'one', state: 'succeeded', attempts: 1 })]);
      expect(recent.finished[0]!.finishedAt).toBeGreaterThanOrEqual(recent.finished[0]!.startedAt!);
      expect((await store.activity(Date.now() + 60_000, 1000)).finished).toEqual([]);
      const after = await store.attemptFailures(start.lastId, 100);
      expect(after.failures).toEqual([expect.objectContaining({ service: 'y', method: 'two' })]);
      expect((await store.attemptFailures(after.lastId, 100)).failures).toEqual([]);
    });
  });

  describe('change signals', () => {
    it('tells listeners about this store\'s writes by kind, and about another process\'s', async () => {
      const store = await open();
      const other = await factory.openAnother(store);
      const seen: StoreChange[] = [];
      const unsubscribe = store.onChange((change) => seen.push(change));
      await store.addJob(job());
      await expect.poll(() => seen.includes('work')).toBe(true);
      const [j] = await claim(store, 'w');
      await store.complete([ok(j!, 'w')]);
      await expect.poll(() => seen.includes('outcomes')).toBe(true);
      await store.upsertRecurring(recurring());
      await expect.poll(() => seen.includes('recurring')).toBe(true);
      // Another process's: by kind where the store can tell (PostgreSQL's NOTIFY), else any (SQLite's data_version).
      seen.length = 0;
      await other.addJob(job());
      await expect.poll(() => seen.some((change) => change === 'work' || change === 'any'), { timeout: 3000 }).toBe(true);
      seen.length = 0;
      await other.upsertRecurring(recurring({ name: 'other' }));
      await expect.poll(() => seen.some((change) => change === 'recurring' || change === 'any'), { timeout: 3000 }).toBe(true);
      unsubscribe();
    });
  });
});
