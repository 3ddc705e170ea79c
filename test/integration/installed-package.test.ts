import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { createServer } from 'node:net';
import { install, pack, runBin, startApp, startWorker, writeApp } from '../helpers/installed-package.ts';
import { tempDir } from '../helpers/temp.ts';

/**
 * The package packed and installed into a new project, used there as the
 * README says. scripts/test-package.ts (npm run test:package) adds the checks
 * too slow for every run: tsc against the declarations, the library imported
 * from plain JavaScript, the start-up time of `jobs list`.
 */
/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the installed package', () => {
  it('runs the project\'s .ts and .js plugins\' jobs with `amsoil-scheduler --worker` and lists them with `jobs list`', async () => {
    const dir = tempDir('package-');
    const app = join(dir, 'app');
    writeApp(app);
    const { tarball, files } = await pack(dir);
    // The built library, its command, the worker plugin and what the code reads beside itself; no sources, tests or benchmarks.
    expect(files).toEqual(expect.arrayContaining([
      'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/bin.js', 'dist/plugins/worker/plugin.js', 'dist/plugins/worker/MANIFEST.json',
      'dist/src/store/sqlite/checkpoint-thread.cjs', 'dist/src/store/sqlite/migrations/0001_initial.sql', 'dist/manifest.schema.json', 'manifest.schema.json',
      'dist/plugins/web/plugin.js', 'dist/plugins/web/MANIFEST.json',
    ]));
    expect(files.some((file) => file.startsWith('dist/plugins/web/static/'))).toBe(true);
    expect(files.filter((file) => !/^(dist\/|manifest\.schema\.json$|package\.json$|README\.md$|CHANGELOG\.md$)/.test(file))).toEqual([]);
    await install(app, tarball);

    expect(await runBin(app, ['jobs', 'add', 'mailer', 'send', '--params', '{"to":"ada@example.org"}'])).toEqual({ code: 0, stdout: '1\n', stderr: '' });
    const worker = await startWorker(app);
    try {
      const loaded = worker.output().split('\n').filter((line) => line.includes('"msg":"plugin loaded"')).map((line) => (JSON.parse(line) as { plugin: string }).plugin);
      expect(loaded).toEqual(['worker', 'greeter', 'mailer', 'web']);
      const added = await runBin(app, ['jobs', 'add', 'greeter', 'greet', '--params', '{"name":"Ada"}', '--wait']);
      expect(added).toEqual({ code: 0, stdout: '"Hello, Ada! (attempt 1)"\n', stderr: '' });
    } finally {
      worker.child.kill('SIGTERM');
    }
    const [code] = await once(worker.child, 'exit') as [number | null];
    expect(code, worker.output()).toBe(0);

    // The app process serves the package's dashboard, its API and its metrics.
    const port = await freePort();
    const appProcess = await startApp(app, port);
    try {
      const openapi = await fetch(`http://127.0.0.1:${port}/api/openapi.json`);
      expect(openapi.status).toBe(200);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/version="\d+\.\d+\.\d+"/);
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    } finally {
      appProcess.child.kill('SIGTERM');
    }
    await once(appProcess.child, 'exit');

    // From another folder, pointed at the project by --root.
    const listed = await runBin(app, ['--root', app, 'jobs', 'list'], dir);
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(listed.stdout).toMatch(/^2\s+succeeded\s+greeter\.greet\s.*"Hello, Ada! \(attempt 1\)"$/m);
    expect(listed.stdout).toMatch(/^1\s+succeeded\s+mailer\.send\s.*"sent to ada@example.org"$/m);

    // The database named by the project's deploy/config.json.
    const store = SqliteStore.open({ path: join(app, 'deploy', 'jobs.db') });
    try {
      const jobs = await store.listJobs();
      expect(jobs.map(({ id, service, method, state }) => ({ id, service, method, state }))).toEqual([
        { id: 2, service: 'greeter', method: 'greet', state: 'succeeded' },
        { id: 1, service: 'mailer', method: 'send', state: 'succeeded' },
      ]);
    } finally {
      await store.close();
    }
  }, 90_000);
});
