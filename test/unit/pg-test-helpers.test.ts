import { connect, createServer, type Server } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { postgresSkipReason } from '../helpers/postgres.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

/** Sends `text` through a fresh connection to `port` and resolves with what comes back within `ms` (or null). */
async function echoOnce(port: number, text: string, ms = 300): Promise<string | null> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  return new Promise((resolve) => {
    const timer = setTimeout(() => { socket.destroy(); resolve(null); }, ms);
    socket.once('data', (chunk: Buffer) => { clearTimeout(timer); socket.destroy(); resolve(chunk.toString()); });
    socket.once('close', () => { clearTimeout(timer); resolve(null); });
    socket.write(text);
  });
}

describe('tcp-proxy', () => {
  let echo: Server;
  let port: number;
  beforeAll(async () => {
    echo = createServer((socket) => { socket.on('error', () => {}); socket.pipe(socket); });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    port = (echo.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => echo.close(() => resolve())));

  it('forwards, holds everything while cut, delivers it in order on restore, and resets on drop', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port });
    try {
      expect(await echoOnce(proxy.port, 'hello')).toBe('hello');
      // A connection made before the cut: its data waits, then arrives.
      const socket = connect(proxy.port, '127.0.0.1');
      await new Promise((resolve) => socket.once('connect', resolve));
      const received: string[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk.toString()));
      proxy.cut();
      socket.write('a');
      socket.write('b');
      expect(await echoOnce(proxy.port, 'cut', 150)).toBeNull();
      expect(received).toEqual([]);
      proxy.restore();
      await expect.poll(() => received.join('')).toBe('ab');
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.on('error', () => {});
      proxy.drop();
      await closed;
      expect(await echoOnce(proxy.port, 'refused')).toBeNull();
      proxy.restore();
      expect(await echoOnce(proxy.port, 'again')).toBe('again');
    } finally {
      await proxy.close();
    }
  });
});

describe.skipIf(postgresSkipReason !== null)('pg-cluster', () => {
  let cluster: PgCluster | undefined;
  afterAll(async () => { await cluster?.cleanup(); });

  const query = async (url: string): Promise<number> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<{ n: number }>('SELECT 42 AS n')).rows[0]!.n;
    } finally {
      await client.end();
    }
  };

  it('starts a private server on a free port, stops it fast or immediately, and starts it again', async () => {
    cluster = await startPgCluster();
    expect(cluster.port).not.toBe(5432);
    expect(await query(cluster.url)).toBe(42);
    await cluster.stop('fast');
    await expect(query(cluster.url)).rejects.toThrow();
    await cluster.start();
    await cluster.stop('immediate');
    await cluster.start();
    expect(await query(cluster.url)).toBe(42);
  });
});
