import { PluginError } from '../errors.ts';
import type { PluginManager } from '../plugins/plugin-manager.ts';
import { Worker } from '../worker/worker.ts';
import { WorkerService } from '../worker/worker-service.ts';
import { createConfig, createHostLogger, loadPlugins, type HostOptions } from './bootstrap.ts';
import { onShutdownSignal } from './signals.ts';

/** Options of `main.ts` and `main.ts --worker`. */
export interface ProcessOptions extends HostOptions {
  readonly pluginDirs: readonly string[];
}

/**
 * `main.ts`: loads the plugins, runs their setup (where they add jobs and
 * serve their users) and stays up until SIGINT or SIGTERM.
 */
export async function runApp(options: ProcessOptions): Promise<void> {
  const config = createConfig(options);
  const logger = createHostLogger(config, 'app');
  const pm = await loadPlugins(config, logger, { ...options, role: 'app' });
  logger.info({ plugins: pm.plugins.map((p) => p.name) }, 'app started; stop with Ctrl-C or SIGTERM');
  const keepAlive = setInterval(() => {}, 1 << 30);
  onShutdownSignal(logger, async () => {
    clearInterval(keepAlive);
    await closeWorkerService(pm);
  });
}

/**
 * `main.ts --worker`: loads the same plugins, then claims and runs jobs until
 * SIGINT or SIGTERM, when it stops claiming and lets running jobs finish
 * within `worker.shutdownGraceSeconds`.
 */
export async function runWorker(options: ProcessOptions): Promise<void> {
  const config = createConfig(options);
  const logger = createHostLogger(config, 'worker');
  const pm = await loadPlugins(config, logger, { ...options, role: 'worker' });
  const service = workerServiceOf(pm);
  const worker = new Worker({
    store: service.store,
    services: pm,
    logger,
    concurrency: Number(config.get('worker.concurrency')),
    leaseMs: Number(config.get('worker.leaseSeconds')) * 1000,
  });
  worker.start();
  onShutdownSignal(logger, async () => {
    await worker.stop(Number(config.get('worker.shutdownGraceSeconds')) * 1000);
    await service.store.close();
  });
}

function workerServiceOf(pm: PluginManager): WorkerService {
  if (!pm.hasService('worker')) {
    throw new PluginError('no plugin implements the "worker" service: the plugins directories must include plugins/worker');
  }
  const service = pm.getService('worker');
  if (!(service instanceof WorkerService)) {
    throw new PluginError('the "worker" service is not a WorkerService: plugins/worker must register openWorkerService(...)');
  }
  return service;
}

async function closeWorkerService(pm: PluginManager): Promise<void> {
  if (!pm.hasService('worker')) return;
  const service = pm.getService('worker');
  if (service instanceof WorkerService) await service.store.close();
}
