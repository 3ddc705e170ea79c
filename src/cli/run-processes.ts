import { fork } from 'node:child_process';
import { hostname } from 'node:os';
import { ConfigError, PluginError } from '../errors.ts';
import type { ConfigService } from '../config/config-service.ts';
import { durationMs, wholeNumber } from '../config/config-values.ts';
import type { PluginManager } from '../plugins/plugin-manager.ts';
import { CHILD_BEAT_MS, EXIT_RECYCLE, Supervisor, type ChildMessage } from '../worker/supervisor.ts';
import { openWorkerService } from '../worker/open-worker-service.ts';
import { Worker } from '../worker/worker.ts';
import { WorkerService } from '../worker/worker-service.ts';
import { createConfig, createHostLogger, loadPlugins, type HostOptions, type PluginSources } from './bootstrap.ts';
import { onShutdownSignal } from './signals.ts';

/** Options of `main.ts` and `main.ts --worker`. */
export interface ProcessOptions extends HostOptions, PluginSources {}

/** What the worker needs to start copies of itself. */
export interface WorkerProcessOptions extends ProcessOptions {
  /** This process is a worker child of a supervisor (`--worker-child`). */
  readonly child: boolean;
  /** The entry script (main.ts, or the installed command's) and the arguments it was started with, to fork children. */
  readonly mainPath: string;
  readonly argv: readonly string[];
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
  const close = async (): Promise<void> => {
    clearInterval(keepAlive);
    await closeWorkerService(pm);
  };
  onShutdownSignal(logger, { graceful: close, force: close });
}

/**
 * `main.ts --worker`: a supervisor keeping `worker.processes` worker children
 * running, or (with `worker.processes` 0, or in a child) the worker itself.
 * @returns an exit code if the worker could not start; undefined once it runs.
 */
export async function runWorker(options: WorkerProcessOptions): Promise<number | undefined> {
  const config = createConfig(options);
  const processes = wholeNumber(config, 'worker.processes');
  if (options.child || processes === 0) {
    await runWorkerHere(config, options);
    return undefined;
  }
  return runSupervisor(config, options, processes);
}

/** Loads the plugins and runs the worker loop in this process until a signal. */
async function runWorkerHere(config: ConfigService, options: WorkerProcessOptions): Promise<void> {
  const logger = createHostLogger(config, 'worker');
  // Signals are handled from the first moment: one that comes while plugins load stops the start-up cleanly.
  let worker: Worker | undefined;
  let service: WorkerService | undefined;
  const grace = durationMs(config, 'worker.shutdownGraceSeconds') ?? 0;
  const handlers = {
    graceful: async (): Promise<void> => {
      await worker?.stop(grace);
      await service?.store.close();
    },
    force: async (): Promise<void> => {
      await worker?.stopNow();
      await service?.store.close();
    },
  };
  let stop: () => void;
  if (options.child) {
    // The supervisor owns the terminal's Ctrl-C: it forwards one SIGTERM (a second one later means hurry),
    // and a lost parent means stop too: finish or hand back the jobs, and exit.
    process.on('SIGINT', () => {});
    stop = onShutdownSignal(logger, handlers, ['SIGTERM']);
    const lost = (): void => {
      logger.warn('lost the supervisor (its IPC channel closed): stopping');
      stop();
    };
    process.on('disconnect', lost);
    // A supervisor that died while this process was still loading closed the channel before the listener above was
    // there: 'disconnect' has fired for nobody, and this process would run on, unsupervised, for good.
    if (!process.connected) lost();
  } else {
    stop = onShutdownSignal(logger, handlers);
  }

  const pm = await loadPlugins(config, logger, { ...options, role: 'worker' });
  service = workerServiceOf(pm);
  worker = new Worker({
    store: service.store,
    services: pm,
    logger,
    concurrency: wholeNumber(config, 'worker.concurrency', 1),
    leaseMs: (durationMs(config, 'worker.leaseSeconds') ?? 30_000),
    defaultTimeoutMs: durationMs(config, 'worker.defaultTimeoutSeconds'),
    lingerMs: durationMs(config, 'worker.killGraceSeconds') ?? 0,
    retention: { succeededMs: durationMs(config, 'worker.retention.succeededDays', 'days'), failedMs: durationMs(config, 'worker.retention.failedDays', 'days') },
    events: service.events,
    maxResultBytes: wholeNumber(config, 'worker.maxPayloadBytes', 1),
    statsIntervalMs: durationMs(config, 'worker.statsIntervalSeconds'),
    // Only a new process can stop a method that ignores its signal: finish the others, then ask the
    // supervisor for a replacement. Without a supervisor nothing would restart us, so we carry on.
    ...(options.child
      ? {
          onStuck: () => {
            process.exitCode = EXIT_RECYCLE;
            stop();
          },
        }
      : {}),
  });
  worker.start();
  if (options.child) {
    // Never throws: a supervisor gone mid-send is what 'disconnect' is for.
    const send = (message: ChildMessage): void => {
      if (process.connected) process.send?.(message, undefined, {}, () => {});
    };
    send({ type: 'ready', owner: worker.owner });
    setInterval(() => send({ type: 'beat' }), CHILD_BEAT_MS).unref();
  }
}

/** Forks the worker children and supervises them until a signal. */
async function runSupervisor(config: ConfigService, options: WorkerProcessOptions, processes: number): Promise<number | undefined> {
  const logger = createHostLogger(config, 'supervisor');
  const stuckMs = durationMs(config, 'worker.stuckSeconds') ?? 20_000;
  const leaseMs = durationMs(config, 'worker.leaseSeconds') ?? 30_000;
  if (stuckMs >= leaseMs) {
    // A blocked process keeps its jobs only as long as its lease; it must be killed before another worker takes them.
    throw new ConfigError(`Expected config \`worker.stuckSeconds\` (${stuckMs / 1000}) to be less than \`worker.leaseSeconds\` (${leaseMs / 1000})`);
  }
  // The supervisor loads no plugins: it only needs the database, to account for the jobs of children it loses.
  // It writes only when a child is lost: SQLite's own checkpoints are enough.
  const service = await openWorkerService({ config, projectRoot: options.projectRoot, logger, checkpoint: 'inline' });
  const supervisor = new Supervisor({
    processes,
    spawn: () => fork(options.mainPath, [...options.argv, '--worker-child'], { execArgv: process.execArgv }),
    store: service.store,
    logger,
    defaultTimeoutMs: durationMs(config, 'worker.defaultTimeoutSeconds'),
    killGraceMs: durationMs(config, 'worker.killGraceSeconds') ?? 0,
    stuckMs,
    stopTimeoutMs: (durationMs(config, 'worker.shutdownGraceSeconds') ?? 0) + 5000,
  });
  // Handled before the children start: a signal during start-up stops them cleanly too.
  onShutdownSignal(logger, {
    graceful: async () => {
      await supervisor.stop();
      await service.store.close();
    },
    force: async () => {
      await supervisor.stopNow();
      await service.store.close();
    },
  });
  const failed = await supervisor.start();
  if (failed !== null) {
    await service.store.close();
    return failed;
  }
  if (!supervisor.stopping) logger.info({ host: hostname() }, 'worker supervisor running; stop with Ctrl-C or SIGTERM');
  return undefined;
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
