import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { FIXTURE_PLUGINS, runMain, startMain } from '../helpers/processes.ts';
import { tempDir } from '../helpers/temp.ts';

describe('app process (main.ts)', () => {
  it('loads the plugins, runs their setup, and exits 0 on SIGTERM', async () => {
    const dbPath = join(tempDir('app-'), 'jobs.db');
    const app = startMain(['--plugins', FIXTURE_PLUGINS, '--set', `worker.dbpath=${dbPath}`, '--set', 'log.pretty=false']);
    const started = await app.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('app started'));
    expect(started.plugins).toEqual(['worker', 'probe']);
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);
  });

  it('the example plugin adds its jobs from the app and the worker runs them', async () => {
    const dbPath = join(tempDir('example-'), 'jobs.db');
    const flags = ['--set', `worker.dbpath=${dbPath}`, '--set', 'log.pretty=false', '--set', 'example.tickSeconds=0.2'];
    const app = startMain(flags);
    await app.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('app started'));
    const worker = startMain([...flags, '--worker']);
    await worker.waitForLog((l) => l.msg === 'Hello, world!' && l.service === 'example');
    await worker.waitForLog((l) => l.msg === 'tick');
    const store = SqliteStore.open({ path: dbPath });
    // The app added the one-off jobs once; the worker, loading the same plugin, did not add copies.
    const greets = (await store.listJobs()).filter((j) => j.method === 'greet');
    expect(greets).toHaveLength(1);
    expect(await store.listRecurring()).toHaveLength(1);
    await store.close();
    for (const p of [app, worker]) p.child.kill('SIGTERM');
    expect(await app.exited).toBe(0);
    expect(await worker.exited).toBe(0);
  });

  it('refuses a mistyped --set key before any plugin is set up', async () => {
    const dbPath = join(tempDir('typo-'), 'jobs.db');
    const result = await runMain(['--plugins', FIXTURE_PLUGINS, '--set', `worker.dbpath=${dbPath}`, '--set', 'wroker.concurrency=2']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown config key "wroker.concurrency" in --set: no loaded plugin is named "wroker"');
    // The worker plugin's setup() would have created the database.
    expect(existsSync(dbPath)).toBe(false);
  });

  it('refuses an unknown key of a loaded plugin once the plugins are set up', async () => {
    const dbPath = join(tempDir('typo-'), 'jobs.db');
    const result = await runMain(['--plugins', FIXTURE_PLUGINS, '--set', `worker.dbpath=${dbPath}`, '--set', 'probe.fiel=x']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown config key "probe.fiel" in --set');
  });

  it('stops start-up with exit 1 and one message naming the plugin folder and field', async () => {
    const plugins = tempDir('bad-plugins-');
    mkdirSync(join(plugins, 'broken'));
    writeFileSync(join(plugins, 'broken', 'MANIFEST.json'), JSON.stringify({ name: 'broken', version: '1', implements: [], requires: [], loads_after: [] }));
    writeFileSync(join(plugins, 'broken', 'plugin.js'), 'export function setup() {}\n');
    const result = await runMain(['--plugins', plugins, '--set', `worker.dbpath=${join(plugins, 'x.db')}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('broken');
    expect(result.stderr).toContain('loads_after');
  });
});
