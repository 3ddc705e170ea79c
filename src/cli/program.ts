import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { parseSetFlag, type ConfigService } from '../config/config-service.ts';
import { ConfigError, DatabaseUnavailableError, PluginError, SchedulerError } from '../errors.ts';
import { resolveDbPath } from '../config/core-keys.ts';
import { createLogger } from '../log/logger.ts';
import { openWorkerService } from '../worker/open-worker-service.ts';
import type { WorkerService } from '../worker/worker-service.ts';
import { createConfig, type HostOptions } from './bootstrap.ts';
import { addJob, cancelJob, clearJobs, listJobs, listPausedTargets, listWorkers, pauseOrResume, pauseRecurring, removeRecurring, retryJob, showJob, showStats, watchJob, type Output } from './jobs-command.ts';

/** Where the command line runs: injected so tests run it in-process. */
export interface CliEnvironment {
  /** How usage and help name the program. @default 'main.ts' */
  readonly name?: string;
  /** The project root unless `--root` names another: see {@link HostOptions.projectRoot}. */
  readonly projectRoot: string;
  /**
   * Plugin folders loaded besides the plugins directories (the installed
   * package's `worker` plugin); a plugin of the same name in them replaces one.
   */
  readonly builtinPlugins?: readonly string[];
  /** This program's entry file, to start worker children. */
  readonly mainPath: string;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  /** Whether a person watches stdout (progress bars redraw in place). */
  readonly stdoutIsTerminal: boolean;
  readonly stderr: (text: string) => void;
}

interface GlobalFlags {
  worker?: boolean;
  root?: string;
  plugins: string[];
  config?: string;
  set: string[];
  concurrency?: number;
  processes?: number;
  workerChild?: boolean;
}

/** Exit statuses: 0 done, 1 failed at run time, 2 the command line or its input was wrong. */
export const EXIT_USAGE = 2;

// Error codes that mean "the input was wrong", as opposed to a failure at run time.
const USAGE_CODES = new Set(['ERR_INVALID_ARGUMENT', 'ERR_CONFIG', 'ERR_NOT_SERIALIZABLE']);

/**
 * Parses `argv` (without node and the script) and runs it. Resolves to the
 * exit status for commands that finish, or to `undefined` once the app or
 * worker process is up (it then runs until a signal).
 */
export async function runCli(argv: readonly string[], env: CliEnvironment): Promise<number | undefined> {
  let started = false;
  let exitCode: number | undefined;
  const program = buildProgram(env, argv, (code) => {
    started = code === undefined;
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return started ? undefined : (exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not errors; everything else commander refuses is a usage error.
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.help' || error.code === 'commander.version' ? 0 : EXIT_USAGE;
    }
    if (error instanceof SchedulerError) {
      // A database that cannot be opened is the setting's fault, not the worker plugin's that opened it.
      const shown = error instanceof PluginError && error.cause instanceof DatabaseUnavailableError ? error.cause : error;
      env.stderr(`error: ${shown.message}\n`);
      // A bad config value met inside a plugin's setup() is still the user's input.
      const cause = error.cause instanceof SchedulerError ? error.cause : error;
      return USAGE_CODES.has(error.code) || USAGE_CODES.has(cause.code) ? EXIT_USAGE : 1;
    }
    env.stderr(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}

function buildProgram(env: CliEnvironment, argv: readonly string[], onStarted: (exitCode?: number) => void): Command {
  const program = new Command(env.name ?? 'main.ts')
    .description('A SQLite-backed job scheduler in the style of AMsoil\'s worker.\n\n' +
      'Without a command, runs the app process: loads the plugins and runs their setup until SIGINT/SIGTERM.\n' +
      'With --worker, runs the worker process that claims and runs due jobs.')
    .option('--worker', 'run the worker process')
    .option('--root <dir>', `the project folder: plugins/, deploy/config.json and a relative worker.dbpath are found in it (default: ${env.projectRoot})`)
    .option('--plugins <dir>', 'a plugins directory; repeatable; replaces the default plugins/', collect, [])
    .option('--config <file>', 'config file (default: deploy/config.json)')
    .option('--set <key=value>', 'set a config key; repeatable; wins over file and environment', collect, [])
    .addOption(new Option('--concurrency <n>', 'jobs run at once by each worker process (sets worker.concurrency)').argParser(positiveInteger))
    .addOption(new Option('--processes <n>', 'worker processes under the supervisor; 0 runs the worker in this process (sets worker.processes)').argParser(wholeNumber))
    .addOption(new Option('--worker-child', 'internal: a worker process started by the supervisor').hideHelp())
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: env.stdout, writeErr: env.stderr })
    .action(async () => {
      const flags = program.opts<GlobalFlags>();
      const host = hostOptions(env, flags);
      const options = { ...host, pluginDirs: pluginDirs(env, flags, host.projectRoot), builtinPlugins: env.builtinPlugins };
      // Imported here, not at the top: the jobs commands should not pay for loading the worker and its supervisor.
      const { runApp, runWorker } = await import('./run-processes.ts');
      if (flags.worker === true) {
        onStarted(await runWorker({ ...options, child: flags.workerChild === true, mainPath: env.mainPath, argv }));
      } else {
        await runApp(options);
        onStarted();
      }
    });

  const jobs = program.command('jobs').description('inspect and manage jobs in the database (plugins are not loaded)');
  const withService = async (run: (worker: WorkerService, output: Output, database: string) => Promise<void>): Promise<void> => {
    const flags = program.opts<GlobalFlags>();
    if (flags.worker === true) throw new CommanderArgumentError('--worker cannot be combined with the jobs command');
    const options = hostOptions(env, flags);
    const config = createConfig(options);
    assertKnownOverrides(config, options.overrides);
    const logger = createLogger({ level: 'warn', pretty: false, base: { role: 'cli' } });
    // One command and out: no checkpoint thread for it.
    const worker = await openWorkerService({ config, projectRoot: options.projectRoot, logger, checkpoint: 'inline' });
    try {
      const output: Output = { out: (text) => env.stdout(`${text}\n`), write: env.stdout, err: (text) => env.stderr(`${text}\n`) };
      await run(worker, output, resolveDbPath(String(config.get('worker.dbpath')), options.projectRoot));
    } finally {
      await worker.store.close();
    }
  };

  jobs.command('add')
    .description('add a job; prints its id (a recurring job\'s id with --every or --cron)')
    .argument('<service>').argument('<method>')
    .option('--params <json>', 'params as JSON (default: null)')
    .option('--params-superjson <text>', 'params with their types (Date, BigInt, Map…): {"json":…,"meta":…}, as jobs show --json prints in paramsSuperjson')
    .option('--at <iso-8601>', 'run at or after this instant, e.g. 2026-05-01T09:30:00Z')
    .option('--every <seconds>', 'recurring: every this many seconds, first run at once')
    .option('--cron <expr>', 'recurring: a cron expression, first run at its next fire time')
    .option('--tz <zone>', 'IANA time zone of --cron, e.g. Europe/Berlin (default: UTC)')
    .option('--name <name>', 'recurring: name, so one method can have several recurring jobs')
    .option('--attempts <n>', 'attempts before the job ends failed (default 3)')
    .option('--timeout <seconds>', 'abort an attempt running longer than this')
    .option('--priority <p>', 'high, normal, low or an integer; higher runs first (default normal)')
    .option('--key <key>', 'unique key: while a job with this service, method and key waits or runs, print its id instead of adding one')
    .option('--tag <tag>', 'a label for jobs list --tag; repeatable', collect, undefined)
    .option('--after <id>', 'run only after job ID succeeded (cancelled if it fails); repeatable', collect, undefined)
    .option('--concurrency-key <key>', 'at most --concurrency-limit jobs with this key run at once, on every worker')
    .option('--concurrency-limit <n>', 'with --concurrency-key: how many may run at once (default 1)')
    .option('--wait', 'wait for the job to finish and print its result (exit 1 if it fails); says on stderr when no worker claims it')
    .option('--wait-timeout <seconds>', 'with --wait: stop waiting after this many seconds (exit 1); the job stays')
    .action(async (service: string, method: string, flags: Record<string, string>) =>
      withService((worker, output, database) => addJob(worker, service, method, flags, output, { database })));

  for (const action of ['pause', 'resume'] as const) {
    jobs.command(action)
      .description(action === 'pause'
        ? 'pause TARGET (service.method, or a whole service) on every worker: its jobs wait; running ones finish'
        : 'resume a paused TARGET')
      .argument('<target>')
      .action(async (target: string) => withService((worker, output) => pauseOrResume(worker, target, action, output)));
  }

  jobs.command('paused')
    .description('list what is paused')
    .option('--json', 'print one JSON array')
    .action(async (flags: { json?: boolean }) => withService((worker, output) => listPausedTargets(worker, flags, output)));

  jobs.command('list')
    .description('list jobs, newest first (or recurring jobs)')
    .option('--state <state>', 'only jobs in this state: waiting, running, succeeded, failed, cancelled')
    .option('--recurring', 'list recurring jobs instead')
    .option('--tag <tag>', 'only jobs with this tag')
    .option('--limit <n>', 'at most this many jobs (default: 100)')
    .option('--json', 'print one JSON array')
    .action(async (flags: Record<string, string | boolean>) =>
      withService((worker, output) => listJobs(worker, flags, output)));

  jobs.command('show')
    .description('show one job: params, outcome, progress, notes, every attempt\'s error')
    .argument('<id>')
    .option('--json', 'print one JSON object')
    .option('--watch', 'follow its progress and notes until it finishes')
    .action(async (id: string, flags: { json?: boolean; watch?: boolean }) => withService((worker, output) => {
      if (flags.watch === true && flags.json === true) throw new CommanderArgumentError('--watch and --json exclude each other');
      return flags.watch === true ? watchJob(worker, id, output, env.stdoutIsTerminal) : showJob(worker, id, flags, output);
    }));

  jobs.command('stats')
    .description('jobs by state (waiting: due or scheduled for later), how long the oldest due job has waited, failed attempts per method in the last hour')
    .option('--json', 'print one JSON object')
    .action(async (flags: { json?: boolean }) => withService((worker, output) => showStats(worker, flags, output)));

  jobs.command('workers')
    .description('worker processes the database knows: host, pid, running jobs, last heartbeat')
    .option('--json', 'print one JSON array')
    .action(async (flags: { json?: boolean }) => withService((worker, output) => listWorkers(worker, flags, output)));

  jobs.command('clear')
    .description('remove every recurring job (jobs already added and the history stay)')
    .option('--recurring', 'remove recurring jobs')
    .action(async (flags: { recurring?: boolean }) => withService((worker, output) => clearJobs(worker, flags, output)));

  jobs.command('cancel')
    .description('cancel a job: a waiting job never starts, a running one is aborted')
    .argument('<id>')
    .action(async (id: string) => withService((worker, output) => cancelJob(worker, id, output)));

  jobs.command('retry')
    .description('put a failed or cancelled job back, with all its attempts')
    .argument('<id>')
    .action(async (id: string) => withService((worker, output) => retryJob(worker, id, output)));

  jobs.command('remove-recurring')
    .description('remove one recurring job by signature: service.method or service.method#name')
    .argument('<signature>')
    .action(async (signature: string) => withService((worker, output) => removeRecurring(worker, signature, output)));

  jobs.command('pause-recurring')
    .description('pause one recurring job by signature: it adds no jobs until resumed, and stays paused when registered again')
    .argument('<signature>')
    .action(async (signature: string) => withService((worker, output) => pauseRecurring(worker, signature, true, output)));

  jobs.command('resume-recurring')
    .description('resume a paused recurring job: it runs next at its next fire time from now; every occurrence due before that is skipped')
    .argument('<signature>')
    .action(async (signature: string) => withService((worker, output) => pauseRecurring(worker, signature, false, output)));

  for (const command of [jobs, ...jobs.commands]) {
    command.showHelpAfterError().exitOverride().configureOutput({ writeOut: env.stdout, writeErr: env.stderr });
  }
  return program;
}

/**
 * The jobs command loads no plugins, so plugin keys in the config file are
 * left alone; but a `--set` on its own command line that it cannot use is a mistake.
 */
function assertKnownOverrides(config: ConfigService, overrides: Readonly<Record<string, string>>): void {
  const known = new Set(config.knownKeys());
  const unknown = Object.keys(overrides).find((key) => !known.has(key));
  if (unknown !== undefined) {
    throw new ConfigError(`unknown config key "${unknown}" in --set: the jobs command loads no plugins and knows only ${[...known].join(', ')}`);
  }
}

function hostOptions(env: CliEnvironment, flags: GlobalFlags): HostOptions {
  const overrides: Record<string, string> = {};
  for (const text of flags.set) {
    const { key, value } = parseSetFlag(text);
    overrides[key] = value;
  }
  if (flags.concurrency !== undefined) overrides['worker.concurrency'] = String(flags.concurrency);
  if (flags.processes !== undefined) overrides['worker.processes'] = String(flags.processes);
  return {
    projectRoot: flags.root === undefined ? env.projectRoot : resolve(env.cwd, flags.root),
    configFile: flags.config === undefined ? undefined : resolve(env.cwd, flags.config),
    overrides,
    env: env.env,
  };
}

function pluginDirs(env: CliEnvironment, flags: GlobalFlags, projectRoot: string): string[] {
  return flags.plugins.length === 0 ? [resolve(projectRoot, 'plugins')] : flags.plugins.map((dir) => resolve(env.cwd, dir));
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function wholeNumber(text: string): number {
  if (!/^\d+$/.test(text)) throw new CommanderArgumentError(`expected a whole number, got "${text}"`);
  return Number(text);
}

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1) throw new CommanderArgumentError(`expected a positive integer, got "${text}"`);
  return value;
}
