/**
 * This package as a user gets it: packed as `npm publish` would pack it and
 * installed into a new project. Used by test/integration/installed-package.test.ts
 * and scripts/test-package.ts.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const PACKAGE_NAME = 'amsoil-scheduler';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** What `npm pack` made: the tarball's path and the files in it. */
export interface Packed {
  readonly tarball: string;
  readonly files: readonly string[];
}

/** `npm pack` of this checkout into `dir` (its prepack builds dist/). */
export async function pack(dir: string): Promise<Packed> {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
  // What prepack printed comes first.
  const [result] = JSON.parse(stdout.slice(stdout.indexOf('[\n'))) as [{ filename: string; files: { path: string }[] }];
  return { tarball: join(dir, result.filename), files: result.files.map((file) => file.path) };
}

/**
 * A user's project in `app`: a package.json with `"type": "module"`,
 * deploy/config.json (the database at deploy/jobs.db), and two plugins:
 * `greeter` in TypeScript (a decorator, type-only imports) and `mailer` in
 * JavaScript, both importing the package.
 */
export function writeApp(app: string): void {
  write(join(app, 'package.json'), `${JSON.stringify({ name: 'app', private: true, type: 'module' }, null, 2)}\n`);
  write(join(app, 'deploy', 'config.json'), `${JSON.stringify({ 'worker.dbpath': 'deploy/jobs.db', 'worker.concurrency': 2 })}\n`);
  write(join(app, 'plugins', 'greeter', 'MANIFEST.json'), JSON.stringify({
    $schema: `../../node_modules/${PACKAGE_NAME}/manifest.schema.json`,
    name: 'greeter', version: '1.0.0', implements: ['greeter'], 'loads-after': ['worker'], requires: [],
  }));
  write(join(app, 'plugins', 'greeter', 'plugin.ts'), `import { outsideprocess, type JobContext, type PluginManager, type WorkerService } from '${PACKAGE_NAME}';

class Greeter {
  @outsideprocess
  async greet(params: { name: string }, ctx: JobContext): Promise<string> {
    return \`Hello, \${params.name}! (attempt \${ctx.attempt})\`;
  }
}

export function setup(pm: PluginManager): void {
  pm.registerService('greeter', new Greeter());
  pm.getService<WorkerService>('worker');
}
`);
  write(join(app, 'plugins', 'mailer', 'MANIFEST.json'), JSON.stringify({
    name: 'mailer', version: '1.0.0', implements: ['mailer'], 'loads-after': ['worker'], requires: [],
  }));
  write(join(app, 'plugins', 'mailer', 'plugin.js'), `import { outsideprocess } from '${PACKAGE_NAME}';

export function setup(pm) {
  pm.registerService('mailer', { send: outsideprocess(async (params) => \`sent to \${params.to}\`) });
}
`);
}

/**
 * `npm install` of the tarball into `app`. Unless `fullInstall`, without
 * install scripts, copying this checkout's compiled better-sqlite3 instead:
 * compiling it takes two minutes here, and it is better-sqlite3's build, not
 * this package, that would be tested.
 */
export async function install(app: string, tarball: string, options: { fullInstall?: boolean } = {}): Promise<void> {
  const full = options.fullInstall === true;
  await promisify(execFile)('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', ...(full ? [] : ['--ignore-scripts'])], { cwd: app });
  if (full) return;
  const ours = createRequire(join(ROOT, 'package.json'));
  const theirs = createRequire(join(app, 'node_modules', PACKAGE_NAME, 'package.json'));
  const folder = (require: NodeRequire): string => dirname(require.resolve('better-sqlite3/package.json'));
  const version = (require: NodeRequire): string => (JSON.parse(readFileSync(join(folder(require), 'package.json'), 'utf8')) as { version: string }).version;
  if (version(theirs) !== version(ours)) {
    throw new Error(`the package installs better-sqlite3 ${version(theirs)}, this checkout has ${version(ours)}: install with its scripts (fullInstall)`);
  }
  cpSync(join(folder(ours), 'build'), join(folder(theirs), 'build'), { recursive: true });
}

/** The installed command, as `npx amsoil-scheduler` runs it. */
export function binPath(app: string): string {
  return join(app, 'node_modules', '.bin', PACKAGE_NAME);
}

/** Runs the installed command to completion, in `app` unless `cwd` says otherwise. */
export async function runBin(app: string, args: readonly string[], cwd = app): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawn(binPath(app), args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const [code, signal] = await once(child, 'exit') as [number | null, string | null];
  return { code: code ?? signal ?? 'unknown', stdout, stderr };
}

/** `amsoil-scheduler --worker` in `app`, resolved once its log says the worker started. */
export async function startWorker(app: string, timeoutMs = 20_000): Promise<{ child: ChildProcess; output: () => string }> {
  return startBin(app, ['--worker'], '"msg":"worker started"', timeoutMs);
}

/** `amsoil-scheduler` (the app process, with the package's dashboard on `port`) in `app`, once it serves. */
export async function startApp(app: string, port: number, timeoutMs = 20_000): Promise<{ child: ChildProcess; output: () => string }> {
  return startBin(app, ['--set', `web.port=${port}`], 'dashboard at http://', timeoutMs);
}

async function startBin(app: string, args: readonly string[], ready: string, timeoutMs: number): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(binPath(app), [...args, '--set', 'log.pretty=false'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const deadline = Date.now() + timeoutMs;
  while (!output.includes(ready)) {
    if (child.exitCode !== null) throw new Error(`\`${args.join(' ')}\` exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`\`${args.join(' ')}\` did not start within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, output: () => output };
}

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
