import { readFileSync } from 'node:fs';
import { ConfigError, type ConfigService, type HostInfo, type Logger, type PluginManager, type WorkerService } from '../../src/index.ts';
import type { ParamsFilter } from './api-routes.ts';
import { readWebConfig, WEB_KEYS } from './web-config.ts';
import { startWebServer } from './web-server.ts';

/**
 * The `web` service other plugins may use (`loads-after: ["web"]`):
 * `hideParams` sets a function that returns what the dashboard and the API
 * show of a job's params (e.g. with passwords replaced); `url` is the
 * address, or null when the plugin serves nothing.
 */
export interface WebService {
  readonly url: string | null;
  hideParams(filter: ParamsFilter | undefined): void;
  close(): Promise<void>;
}

/** Serves the dashboard, /api/ and /metrics from the app process; the worker process serves nothing. */
export async function setup(pm: PluginManager): Promise<void> {
  const config = pm.getService<ConfigService>('config');
  for (const { key, default: value, description } of WEB_KEYS) config.install(key, value as never, description);
  const logger = pm.getService<Logger>('log');
  const off: WebService = { url: null, hideParams() {}, async close() {} };
  const web = readWebConfig(config);
  if (pm.getService<HostInfo>('host').role !== 'app' || web.port === 0) {
    pm.registerService('web', off);
    return;
  }
  const worker = pm.getService<WorkerService>('worker');
  let server;
  try {
    server = await startWebServer(web, worker, logger, packageVersion());
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new ConfigError(`web.port ${web.port} on ${web.host} is in use: set web.port to another port, or 0 to turn the dashboard off`);
    if (code === 'EADDRNOTAVAIL') throw new ConfigError(`web.host ${web.host} is not an address of this machine`);
    throw error;
  }
  // The app closes the worker service's store on shutdown: the server goes with it.
  const stop = worker.store.onChange((change) => {
    if (change === 'closed') void server.close();
  });
  logger.info({ url: server.url }, `dashboard at ${server.url} (API ${server.url}/api/openapi.json, metrics ${server.url}/metrics)`);
  pm.registerService('web', {
    url: server.url,
    hideParams: (filter: ParamsFilter | undefined) => server.hideParams(filter),
    close: async () => {
      stop();
      await server.close();
    },
  } satisfies WebService);
}

/**
 * The scheduler's version, for the build-info metric: package.json two
 * folders up from this plugin in the repository, three in the built package
 * (dist/plugins/web/).
 */
function packageVersion(): string {
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      const json: unknown = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8'));
      if (typeof json === 'object' && json !== null && 'name' in json && json.name === 'amsoil-scheduler' && 'version' in json && typeof json.version === 'string') {
        return json.version;
      }
    } catch {
      // not there: the other layout
    }
  }
  return 'unknown';
}
