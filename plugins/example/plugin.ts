import type { ConfigService, HostInfo, JobContext, PluginManager, WorkerService } from '../../src/index.ts';
import { outsideprocess } from '../../src/index.ts';

/** The example service. Its marked methods run in the worker process; the rest only where they are called. */
class Greeter {
  readonly #greeting: string;

  constructor(greeting: string) {
    this.#greeting = greeting;
  }

  /** An immediate job: runs as soon as a worker is free. */
  @outsideprocess
  async greet(params: { name: string }, ctx: JobContext): Promise<string> {
    const text = `${this.#greeting}, ${params.name}!`;
    ctx.log.info({ attempt: ctx.attempt }, text);
    return text;
  }

  /** A scheduled job: params keep their types (a Date stays a Date). */
  @outsideprocess
  async remind(params: { what: string; addedAt: Date }, ctx: JobContext): Promise<{ lateBySeconds: number }> {
    const waited = (Date.now() - params.addedAt.getTime()) / 1000;
    ctx.log.info({ waitedSeconds: waited.toFixed(1) }, `reminder: ${params.what}`);
    return { lateBySeconds: waited };
  }

  /** A recurring job. */
  @outsideprocess
  async tick(_params: null, ctx: JobContext): Promise<void> {
    ctx.log.info('tick'); // ctx.log's lines carry the job's id, service and method already
  }
}

/** Registers the service and adds one job of each kind. */
export async function setup(pm: PluginManager): Promise<void> {
  const config = pm.getService<ConfigService>('config');
  config.install('example.greeting', 'Hello', 'How the example greets.');
  config.install('example.tickSeconds', 10, 'Interval of the example recurring job, in seconds.');
  pm.registerService('example', new Greeter(String(config.get('example.greeting'))));

  const worker = pm.getService<WorkerService>('worker');
  // Plugins load in the app and in the worker process: one-off jobs are added by the app only.
  if (pm.getService<HostInfo>('host').role === 'app') {
    await worker.add('example', 'greet', { name: 'world' });
    await worker.addAsScheduled('example', 'remind', { what: 'scheduled 5 s ago', addedAt: new Date() }, new Date(Date.now() + 5000));
  }
  // Registered at every start of every process: the same signature replaces, never piles up.
  await worker.addAsRecurring('example', 'tick', null, Number(config.get('example.tickSeconds')));
}
