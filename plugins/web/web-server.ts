import { readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { DatabaseReplacedError, DatabaseUnavailableError, InvalidArgumentError, JobNotFoundError, RecurringNotFoundError, SchedulerError, type Logger, type WorkerService } from '../../src/index.ts';
import { accessCheck, type WebEnv } from './access.ts';
import { apiRoutes, type ParamsFilter } from './api-routes.ts';
import { BulkActions } from './bulk-actions.ts';
import { HttpError } from './http-error.ts';
import { SchedulerMetrics } from './metrics.ts';
import { SnapshotPoller } from './snapshot-poller.ts';
import type { WebConfig } from './web-config.ts';

const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };

/**
 * Scripts only from this server, no inline script or handler attribute: even a
 * payload that slipped past escaping could not run. Frames refused (clickjacking).
 */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** A running web server: its address, and how to stop it. */
export interface RunningWebServer {
  /** `http://host:port`, with the port actually bound (web.port may be 0 in tests through startWebServer). */
  readonly url: string;
  readonly port: number;
  /** Sets (or clears) the hook that hides params (see the web service). */
  hideParams(filter: ParamsFilter | undefined): void;
  close(): Promise<void>;
}

/** Builds the app (pages, /api/, /metrics) over the worker service's store and listens. */
export async function startWebServer(config: WebConfig, worker: WorkerService, logger: Logger, version: string): Promise<RunningWebServer> {
  const store = worker.store;
  const metrics = new SchedulerMetrics(version, config.workerConcurrency);
  const poller = new SnapshotPoller(store, config.refreshMs, (delta) => metrics.observe(delta));
  const bulk = new BulkActions(store, logger, { batch: config.bulkBatch, max: config.bulkMax });
  let paramsFilter: ParamsFilter | undefined;
  const files = new Map(readdirSync(STATIC_DIR).map((name) => [name, readFileSync(STATIC_DIR + name)]));

  const app = new Hono<WebEnv>();
  app.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'same-origin');
  });
  app.use('*', accessCheck(config));
  app.onError((error, c) => {
    const status = error instanceof HttpError ? error.status
      : error instanceof JobNotFoundError || error instanceof RecurringNotFoundError ? 404
        : error instanceof InvalidArgumentError ? 400
          : error instanceof DatabaseReplacedError ? 409
            : error instanceof DatabaseUnavailableError ? 503 : 500;
    if (status === 500) logger.error({ err: error, path: c.req.path }, 'web: request failed');
    const code = error instanceof SchedulerError ? error.code : 'ERR_INTERNAL';
    const message = status === 500 ? 'internal error (logged by the app process)' : error.message;
    return c.json({ error: { code, message, ...(error instanceof HttpError && error.field !== undefined ? { field: error.field } : {}) } }, status);
  });

  app.get('/metrics', async (c) => {
    metrics.update(await poller.fresh());
    return c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType });
  });
  app.route('/api', apiRoutes({ store, worker, poller, bulk, logger, paramsFilter: () => paramsFilter }));
  app.all('/api/*', (c) => c.json({ error: { code: 'ERR_NOT_FOUND', message: `no API route ${c.req.method} ${c.req.path} (see /api/openapi.json)` } }, 404));
  app.get('/static/:file', (c) => {
    const name = c.req.param('file');
    const body = files.get(name);
    const type = TYPES[name.slice(name.lastIndexOf('.'))];
    if (body === undefined || type === undefined) return c.text('not found', 404);
    return c.body(new Uint8Array(body), 200, { 'Content-Type': type, 'Cache-Control': 'no-cache' });
  });
  // Every page is the same document; its script draws the page the address names, so filters live in the URL.
  const page = files.get('index.html');
  for (const path of ['/', '/jobs', '/jobs/:id', '/recurring', '/limits']) {
    app.get(path, (c) => c.body(new Uint8Array(page ?? Buffer.alloc(0)), 200, { 'Content-Type': 'text/html; charset=utf-8' }));
  }

  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    url: `http://${host}:${port}`,
    port,
    hideParams(filter) {
      paramsFilter = filter;
    },
    async close() {
      poller.close();
      // Event streams never end by themselves: close every connection, not only the idle ones.
      if ('closeAllConnections' in server) server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
