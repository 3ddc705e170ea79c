import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where initdb and pg_ctl are (this machine's PostgreSQL install); `PG_BIN` overrides it. */
const PG_BIN = process.env.PG_BIN ?? '/usr/local/bin';

/**
 * A private PostgreSQL cluster a test starts, stops and restarts itself, in
 * a temp folder on a free port: never the machine's shared server. Used to
 * test what a restart (fast or immediate shutdown) does to the store and workers.
 */
export interface PgCluster {
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  readonly url: string;
  readonly dir: string;
  /** Starts the server and waits until it accepts connections. */
  start(): Promise<void>;
  /** `fast`: disconnects clients and shuts down cleanly; `immediate`: like a crash (recovery on the next start). */
  stop(mode: 'fast' | 'immediate'): Promise<void>;
  /** Stops the server (immediate) if it runs, and removes its folder. */
  cleanup(): Promise<void>;
}

/** The tools run as the `postgres` user when we are root (initdb refuses root), as ourselves otherwise. */
function asPostgres(command: string, args: readonly string[]): [string, string[]] {
  const path = join(PG_BIN, command);
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, [...args]];
}

/** A TCP port nothing listens on now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const running = new Set<PgCluster>();

/** Makes a new cluster (initdb, trust auth, no fsync: a test's data need not survive a power cut) and starts it. */
export async function startPgCluster(): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'pg-cluster-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const port = await freePort();
  await run(...asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C']));
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
  let started = false;
  const cluster: PgCluster = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    dir,
    async start() {
      await run(...asPostgres('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', options, '-w', '-t', '30', 'start']));
      started = true;
      running.add(cluster);
    },
    async stop(mode) {
      await run(...asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']));
      started = false;
      running.delete(cluster);
    },
    async cleanup() {
      if (started) await cluster.stop('immediate').catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await cluster.start();
  return cluster;
}

// A test run that dies must not leave servers behind.
process.once('exit', () => {
  for (const cluster of running) {
    try {
      execFileSync(...asPostgres('pg_ctl', ['-D', join(cluster.dir, 'data'), '-m', 'immediate', 'stop']), { stdio: 'ignore' });
    } catch {
      // already down
    }
  }
});
