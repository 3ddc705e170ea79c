/**
 * The PostgreSQL store when the server goes away: restarted (fast and
 * immediate shutdown) on a private cluster the test owns, and cut off by a
 * proxy. The store alone; the worker's part (leases, aborting jobs) is tested
 * with real processes elsewhere.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NewJob, StoreChange } from '../../src/store/job-store.ts';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres/postgres-store.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

const job = (): NewJob => ({ service: 'svc', method: 'run', params: 'null', runAt: Date.now() - 1000, priority: 0, maxAttempts: 3, timeoutMs: null, createdAt: Date.now() });

describe.skipIf(postgresSkipReason !== null)('PostgresStore when the server goes away', () => {
  let cluster: PgCluster;
  const stores: PostgresStore[] = [];
  const proxies: TcpProxy[] = [];
  let schemaCount = 0;

  // node-postgres warns (once per process) when a query is queued behind another on a client that is not pipelined;
  // pg 9 will refuse it. No fault here may make the store do that, on any of its connections.
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => { warnings.push(warning); };
  const queuedQueryWarnings = (): string[] => warnings.map((w) => w.message).filter((m) => m.includes('already executing a query'));

  beforeAll(async () => {
    process.on('warning', onWarning);
    cluster = await startPgCluster();
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    await cluster?.cleanup();
    expect(queuedQueryWarnings()).toEqual([]);
  });
  afterEach(async () => {
    for (const proxy of proxies.splice(0)) await proxy.close();
    for (const store of stores.splice(0)) await store.close();
  });

  const open = async (options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> => {
    const store = await PostgresStore.open({ url: cluster.url, schema: `faults_${schemaCount++}`, connectTimeoutMs: 5000, pollIntervalMs: 100, ...options });
    stores.push(store);
    return store;
  };

  it('goes on after a fast or an immediate restart, and listens again', async () => {
    const store = await open();
    const other = await open({ schema: store.schema });
    const seen: StoreChange[] = [];
    store.onChange((change) => seen.push(change));
    await store.addJob(job());
    let adds = 1;
    for (const mode of ['fast', 'immediate'] as const) {
      await cluster.stop(mode);
      await cluster.start();
      // The first calls after the restart find dead pooled connections: they are retried on new ones.
      expect((await store.addJob(job())).id).toBeGreaterThan(0);
      adds += 1;
      // The LISTEN connection is re-made: another process's adds wake this one by NOTIFY, which says work (a
      // backstop tick or a reconnect says any). A NOTIFY sent before it listens again is made up for by those.
      await expect.poll(async () => {
        seen.length = 0;
        await other.addJob(job());
        adds += 1;
        await new Promise((resolve) => setTimeout(resolve, 200));
        return seen.includes('work');
      }, { timeout: 10_000, interval: 1 }).toBe(true);
    }
    expect((await store.listJobs()).length).toBe(adds);
  });

  it('rejects an add while the server is down, naming the database, and stores nothing', async () => {
    const store = await open({ connectTimeoutMs: 400 });
    await cluster.stop('immediate');
    try {
      const started = performance.now();
      await expect(store.addJob(job())).rejects.toMatchObject({
        code: 'ERR_DATABASE_UNAVAILABLE',
        message: expect.stringContaining(`127.0.0.1:${cluster.port}/postgres (schema ${store.schema})`),
      });
      expect(performance.now() - started).toBeLessThan(3000);
    } finally {
      await cluster.start();
    }
    expect(await store.listJobs()).toEqual([]);
  });

  it('gives up on a silent link within its query timeout, and works again once the link is back', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: cluster.port });
    proxies.push(proxy);
    const store = await open({ url: proxy.through(cluster.url), queryTimeoutMs: 300, connectTimeoutMs: 600 });
    const { id } = await store.addJob(job());
    const [claimed] = await store.claim({ owner: 'w', limit: 1, now: Date.now(), isolated: 'skip' });
    proxy.cut();
    const started = performance.now();
    await expect(store.heartbeat('w', [{ id, attempt: 1, database: claimed!.database }], Date.now())).rejects.toMatchObject({ code: 'ERR_DATABASE_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(3000);
    proxy.restore();
    expect(await store.heartbeat('w', [{ id, attempt: 1, database: claimed!.database }], Date.now())).toEqual([]);
  });

  it('pings its LISTEN connection one query at a time while the link is silent', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: cluster.port });
    proxies.push(proxy);
    // A tick every 20 ms against a ping that takes the whole cut to fail: before, a ping went out on every tick.
    const store = await open({ url: proxy.through(cluster.url), pollIntervalMs: 20, queryTimeoutMs: 2000 });
    const seen: StoreChange[] = [];
    store.onChange((change) => seen.push(change));
    await expect.poll(() => seen.includes('any')).toBe(true); // listening
    proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 300));
    proxy.restore();
    // The pings held in the proxy come back, and the connection is used again: no second query was ever queued.
    const other = await open({ schema: store.schema });
    seen.length = 0;
    await other.addJob(job());
    await expect.poll(() => seen.includes('work'), { timeout: 5000 }).toBe(true);
    expect(queuedQueryWarnings()).toEqual([]);
  });

  it('waits out a read-only server (a failover that left it on a replica) and writes once it is writable', async () => {
    const store = await open({ connectTimeoutMs: 5000 });
    const setReadOnly = async (on: boolean): Promise<void> => {
      const client = new pg.Client({ connectionString: cluster.url });
      await client.connect();
      try {
        await client.query('SET default_transaction_read_only = off');
        await client.query(`ALTER SYSTEM SET default_transaction_read_only = ${on ? 'on' : 'off'}`);
        await client.query('SELECT pg_reload_conf()');
      } finally {
        await client.end();
      }
    };
    await setReadOnly(true);
    try {
      await expect.poll(async () => (await store.addJob(job()).then(() => 'wrote', (error: { code?: string }) => error.code)), { timeout: 3000 }).toBe('ERR_DATABASE_UNAVAILABLE');
      const pending = store.addJobs([job(), job()]);
      setTimeout(() => void setReadOnly(false), 300);
      expect((await pending).ids).toHaveLength(2);
    } finally {
      await setReadOnly(false);
    }
  });

  it('recycles its pool when the server resets connections, without a process-ending error', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: cluster.port });
    proxies.push(proxy);
    const store = await open({ url: proxy.through(cluster.url), connectTimeoutMs: 2000 });
    store.onChange(() => {});
    await store.addJob(job());
    proxy.drop();
    setTimeout(() => proxy.restore(), 200);
    // Reads are retried across the outage.
    expect(await store.listJobs()).toHaveLength(1);
  });
});
