import { openWorkerService, type HostInfo, type Logger, type PluginManager } from '../../src/index.ts';

/** Registers the `worker` service over the database named by `worker.dbpath`. */
export async function setup(pm: PluginManager): Promise<void> {
  const service = await openWorkerService({
    config: pm.getService('config'),
    projectRoot: pm.getService<HostInfo>('host').projectRoot,
    logger: pm.getService<Logger>('log'),
    services: pm,
  });
  pm.registerService('worker', service);
}
