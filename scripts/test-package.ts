/**
 * `npm run test:package [-- --full-install]`: the checks on the installed
 * package too slow for every `npm test` (test/integration/installed-package.test.ts
 * runs its command and worker there). Packs this checkout, installs the
 * tarball into a new project in a temporary folder, and there:
 * - imports the library from plain JavaScript and adds a job with it;
 * - runs a strict `tsc` (skipLibCheck off) over a TypeScript file and the
 *   project's plugin.ts, against the package's declarations (~10 s);
 * - times `amsoil-scheduler jobs list` and fails if its median start is a second or more.
 *
 * `--full-install` installs with install scripts (better-sqlite3 compiles
 * for two minutes) instead of copying this checkout's build. Exits 1 at the
 * first failed check, keeping the temporary folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binPath, install, pack, PACKAGE_NAME, writeApp } from '../test/helpers/installed-package.ts';

const started = performance.now();
const dir = mkdtempSync(join(tmpdir(), 'amsoil-package-'));
const app = join(dir, 'app');

function step(text: string): void {
  console.log(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${text}`);
}

/** Runs a command in the project; throws with its output if it fails. */
function run(file: string, args: readonly string[]): string {
  return execFileSync(file, args, { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

async function main(): Promise<void> {
  step('npm pack (builds dist/)');
  writeApp(app);
  const { tarball } = await pack(dir);
  const fullInstall = process.argv.includes('--full-install');
  step(`npm install ${tarball}${fullInstall ? '' : ' (better-sqlite3 copied from this checkout)'}`);
  await install(app, tarball, { fullInstall });

  step('the library from plain JavaScript');
  writeFileSync(join(app, 'use-library.js'), `import { SqliteStore, WorkerService } from '${PACKAGE_NAME}';

const store = SqliteStore.open({ path: 'deploy/jobs.db' });
const handle = await new WorkerService(store).add('mailer', 'send', { to: 'ada@example.org' });
console.log(handle.id, (await store.getJob(handle.id)).state);
await store.close();
`);
  const added = run(process.execPath, ['use-library.js']);
  check(added === '1 waiting\n', `use-library.js printed ${JSON.stringify(added)}, not "1 waiting"`);
  const listed = run(binPath(app), ['jobs', 'list']);
  check(/^1\s+waiting\s+mailer\.send\s/m.test(listed), `jobs list does not show the job use-library.js added:\n${listed}`);

  step('tsc over a TypeScript file and plugins/greeter/plugin.ts');
  writeFileSync(join(app, 'check.ts'), `import { SqliteStore, WorkerService, type JobHandle } from '${PACKAGE_NAME}';

const store: SqliteStore = SqliteStore.open({ path: 'deploy/jobs.db' });
const handle: JobHandle<string> = await new WorkerService(store).add<string>('greeter', 'greet', { name: 'tsc' });
export const id: number = handle.id;
await store.close();
`);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
    include: ['check.ts', 'plugins'],
  }));
  try {
    run(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', app]);
  } catch (error) {
    throw new Error(`tsc failed:\n${String((error as { stdout?: unknown }).stdout)}`, { cause: error });
  }

  step('time jobs list');
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const start = performance.now();
    run(binPath(app), ['jobs', 'list']);
    times.push(performance.now() - start);
  }
  const median = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  console.log(`  ${times.map((ms) => ms.toFixed(0)).join(', ')} ms; median ${median.toFixed(0)} ms`);
  check(median < 1000, `jobs list takes ${median.toFixed(0)} ms to run: a second or more`);

  rmSync(dir, { recursive: true, force: true });
  step('the installed package passed');
}

try {
  await main();
} catch (error) {
  console.error(error instanceof Error && 'stderr' in error ? `${error.message}\n${String(error.stderr)}` : error);
  console.error(`kept ${dir} for inspection`);
  process.exitCode = 1;
}
