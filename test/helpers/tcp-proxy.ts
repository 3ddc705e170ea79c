import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between a test's processes and a server, on a free loopback
 * port, that can cut the link: what a worker host cut off from the database
 * sees. `cut()` is a silent partition: nothing is forwarded either way and
 * no error reaches either end (data waits in the proxy, in order, as TCP
 * would retransmit it), new connections hang; `restore()` lets it all
 * through. `drop()` resets every connection and refuses new ones until `restore()`.
 */
export interface TcpProxy {
  readonly port: number;
  /** `url` (a postgres:// URL) with its host and port pointed at the proxy. */
  through(url: string): string;
  cut(): void;
  drop(): void;
  restore(): void;
  /** Connections open through the proxy now. */
  readonly connections: number;
  close(): Promise<void>;
}

interface Link {
  readonly client: Socket;
  upstream: Socket | undefined;
  /** Data held while the link is cut, for each direction. */
  readonly toServer: Buffer[];
  readonly toClient: Buffer[];
}

export async function startTcpProxy(target: { readonly host: string; readonly port: number }): Promise<TcpProxy> {
  let state: 'open' | 'cut' | 'dropped' = 'open';
  const links = new Set<Link>();

  const connectUpstream = (link: Link): void => {
    const upstream = connect(target.port, target.host);
    link.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => {
      if (state === 'open') link.client.write(chunk);
      else link.toClient.push(chunk);
    });
    upstream.on('error', () => link.client.destroy());
    upstream.on('close', () => { link.client.destroy(); links.delete(link); });
    for (const chunk of link.toServer.splice(0)) upstream.write(chunk);
  };

  const server: Server = createServer((client) => {
    if (state === 'dropped') {
      client.resetAndDestroy();
      return;
    }
    const link: Link = { client, upstream: undefined, toServer: [], toClient: [] };
    links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (state === 'open' && link.upstream !== undefined) link.upstream.write(chunk);
      else link.toServer.push(chunk);
    });
    client.on('error', () => link.upstream?.destroy());
    client.on('close', () => { link.upstream?.destroy(); links.delete(link); });
    if (state === 'open') connectUpstream(link);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    port,
    through(url) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    cut() {
      if (state === 'open') state = 'cut';
    },
    drop() {
      state = 'dropped';
      for (const link of links) {
        link.client.resetAndDestroy();
        link.upstream?.resetAndDestroy();
      }
      links.clear();
    },
    restore() {
      state = 'open';
      for (const link of links) {
        if (link.upstream === undefined) connectUpstream(link);
        else for (const chunk of link.toServer.splice(0)) link.upstream.write(chunk);
        for (const chunk of link.toClient.splice(0)) link.client.write(chunk);
      }
    },
    get connections() {
      return links.size;
    },
    async close() {
      for (const link of links) {
        link.client.destroy();
        link.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
