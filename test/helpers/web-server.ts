import { afterEach } from 'vitest';
import { WorkerService } from '../../src/worker/worker-service.ts';
import type { JobStore } from '../../src/store/job-store.ts';
import { startWebServer, type RunningWebServer } from '../../plugins/web/web-server.ts';
import type { WebConfig } from '../../plugins/web/web-config.ts';
import { memoryLogger } from './logger.ts';

const servers: RunningWebServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

/** Credentials the tests sign in with (when `withUsers`). */
export const VIEWER = { name: 'vera', password: 'viewer-secret', role: 'viewer' } as const;
export const OPERATOR = { name: 'otto', password: 'operator-secret', role: 'operator' } as const;
export const TOKEN = { name: 'ci', token: 'token-secret-123', role: 'viewer' } as const;

export const basic = (user: { name: string; password: string }): string => `Basic ${Buffer.from(`${user.name}:${user.password}`).toString('base64')}`;

/** A real web server on a free loopback port over `store`, closed after the test. */
export async function testWebServer(store: JobStore, options: Partial<WebConfig> & { withUsers?: boolean } = {}) {
  const { logger, lines } = memoryLogger('info');
  const worker = new WorkerService(store);
  const { withUsers, ...rest } = options;
  const config: WebConfig = {
    port: 0, host: '127.0.0.1', tokens: withUsers === true ? [TOKEN] : [], users: withUsers === true ? [VIEWER, OPERATOR] : [],
    refreshMs: 200, bulkBatch: 7, bulkMax: 100_000, workerConcurrency: 4, ...rest,
  };
  const server = await startWebServer(config, worker, logger, '0.1.0-test');
  servers.push(server);
  return { server, worker, logLines: lines, url: server.url };
}
