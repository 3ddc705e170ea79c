import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PluginError } from '../../src/errors.ts';
import { PluginManager, type Manifest } from '../../src/plugins/plugin-manager.ts';
import { memoryLogger } from '../helpers/logger.ts';
import { tempDir } from '../helpers/temp.ts';

type ManifestFields = Partial<Manifest> & Record<string, unknown>;

/**
 * Writes plugin `folder` under `dir`: a MANIFEST.json (name = folder, no
 * services, unless `fields` say otherwise) and a plugin.js holding `source`.
 * Returns the plugin folder.
 */
function writePlugin(dir: string, folder: string, fields: ManifestFields = {}, source = 'export function setup() {}'): string {
  const path = join(dir, folder);
  mkdirSync(path, { recursive: true });
  const manifest = { name: folder, version: '1.0.0', implements: [], 'loads-after': [], requires: [], ...fields };
  writeFileSync(join(path, 'MANIFEST.json'), JSON.stringify(manifest, null, 2));
  writeFileSync(join(path, 'plugin.js'), source);
  return path;
}

/** plugin.js source whose setup() appends `event` to the `events` core service. */
function recording(event: string, extra = ''): string {
  return `export async function setup(pm) { pm.getService('events').push(${JSON.stringify(event)}); ${extra} }`;
}

function manager(): { pm: PluginManager; events: string[]; lines: () => Record<string, unknown>[] } {
  const events: string[] = [];
  const { logger, lines } = memoryLogger();
  const pm = new PluginManager({ logger, coreServices: { config: { kind: 'config' }, events } });
  return { pm, events, lines };
}

async function loadError(pm: PluginManager, dirs: readonly string[]): Promise<PluginError> {
  const error: unknown = await pm.loadPlugins(dirs).then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(PluginError);
  return error as PluginError;
}

describe('PluginManager.loadPlugins', () => {
  it('sets plugins up in loads-after order, then by name, whatever the creation order', async () => {
    const dir = tempDir('pm-');
    // Created in reverse of the expected order, so directory order cannot explain the result.
    writePlugin(dir, 'zeta', { implements: ['db'] }, recording('zeta', "pm.registerService('db', { rows: [] });"));
    writePlugin(dir, 'beta', { 'loads-after': ['db'] }, recording('beta'));
    writePlugin(dir, 'alpha', { 'loads-after': ['db', 'config'] }, recording('alpha'));
    const { pm, events } = manager();

    const loaded = await pm.loadPlugins([dir]);

    expect(events).toEqual(['zeta', 'alpha', 'beta']);
    expect(loaded.map((p) => p.name)).toEqual(['zeta', 'alpha', 'beta']);
    expect(pm.plugins).toEqual(loaded);
    expect(loaded[0]).toMatchObject({ name: 'zeta', folder: join(dir, 'zeta'), manifest: { name: 'zeta', implements: ['db'] } });
  });

  it('orders plugins across several plugins directories', async () => {
    const [first, second] = [tempDir('pm-'), tempDir('pm-')];
    writePlugin(first, 'app', { 'loads-after': ['mail'] }, recording('app'));
    writePlugin(second, 'mail', { implements: ['mail'] }, recording('mail', "pm.registerService('mail', {});"));
    const { pm, events } = manager();
    await pm.loadPlugins([first, second]);
    expect(events).toEqual(['mail', 'app']);
  });

  it('awaits each async setup before starting the next', async () => {
    const dir = tempDir('pm-');
    writePlugin(dir, 'a', {}, `export async function setup(pm) {
      const events = pm.getService('events');
      events.push('a:start');
      await new Promise((resolve) => setTimeout(resolve, 30));
      events.push('a:end');
    }`);
    writePlugin(dir, 'b', {}, recording('b'));
    const { pm, events } = manager();
    await pm.loadPlugins([dir]);
    expect(events).toEqual(['a:start', 'a:end', 'b']);
  });

  it('ignores folders without MANIFEST.json and plain files', async () => {
    const dir = tempDir('pm-');
    mkdirSync(join(dir, 'README'));
    writeFileSync(join(dir, 'README', 'notes.md'), '# not a plugin');
    writeFileSync(join(dir, 'MANIFEST.json'), 'not even JSON: a file, not a folder');
    writePlugin(dir, 'only', {}, recording('only'));
    const { pm, events } = manager();
    await pm.loadPlugins([dir]);
    expect(events).toEqual(['only']);
  });

  it('prefers plugin.ts over plugin.js', async () => {
    const dir = tempDir('pm-');
    const folder = writePlugin(dir, 'both', {}, recording('js'));
    writeFileSync(join(folder, 'plugin.ts'), `export function setup(pm: { getService(name: string): string[] }): void {
      pm.getService('events').push('ts');
    }`);
    const { pm, events } = manager();
    await pm.loadPlugins([dir]);
    expect(events).toEqual(['ts']);
  });

  it('registers services for getService and hasService, next to the core services', async () => {
    const dir = tempDir('pm-');
    writePlugin(dir, 'mail', { implements: ['mail', 'mail.templates'] }, `
      export class Mailer { send(to) { return 'sent to ' + to; } }
      export function setup(pm) {
        pm.registerService('mail', new Mailer());
        pm.registerService('mail.templates', { welcome: 'Hello' });
      }`);
    const { pm } = manager();
    await pm.loadPlugins([dir]);
    expect(pm.getService<{ send(to: string): string }>('mail').send('ada')).toBe('sent to ada');
    expect(pm.hasService('mail.templates')).toBe(true);
    expect(pm.getService('config')).toEqual({ kind: 'config' });
    expect(pm.hasService('nope')).toBe(false);
  });

  it('logs each loaded plugin', async () => {
    const dir = tempDir('pm-');
    writePlugin(dir, 'b');
    writePlugin(dir, 'a');
    const { pm, lines } = manager();
    await pm.loadPlugins([dir]);
    expect(lines().map((line) => [line.level, line.msg, line.plugin])).toEqual([[30, 'plugin loaded', 'a'], [30, 'plugin loaded', 'b']]);
  });

  it('warns, naming the folder, about a folder skipped for a manifest misnamed or missing', async () => {
    const dir = tempDir('pm-');
    writePlugin(dir, 'good');
    const lower = writePlugin(dir, 'lower');
    renameSync(join(lower, 'MANIFEST.json'), join(lower, 'manifest.json'));
    const bare = join(dir, 'bare');
    mkdirSync(bare);
    writeFileSync(join(bare, 'plugin.js'), 'export function setup() {}');
    mkdirSync(join(dir, '.hidden'));
    const { pm, lines } = manager();
    expect((await pm.loadPlugins([dir])).map((plugin) => plugin.name)).toEqual(['good']);
    expect(lines().filter((line) => line.level === 40).map((line) => [line.msg, line.folder])).toEqual([
      [`skipped folder ${bare}: it has no MANIFEST.json, so it is not a plugin`, bare],
      [`skipped folder ${lower}: its manifest is named manifest.json, but it must be named MANIFEST.json (in capitals)`, lower],
    ]);
  });

  it('names a plugins directory that does not exist', async () => {
    const missing = join(tempDir('pm-'), 'nowhere');
    const error = await loadError(manager().pm, [missing]);
    expect(error.message).toBe(`plugins directory ${missing} does not exist`);
  });

  it('names a folder with MANIFEST.json but no plugin module', async () => {
    const dir = tempDir('pm-');
    const folder = writePlugin(dir, 'half');
    rmSync(join(folder, 'plugin.js'));
    const error = await loadError(manager().pm, [dir]);
    expect(error.message).toBe(`plugin folder ${folder} has MANIFEST.json but no plugin.ts or plugin.js`);
  });

  it('stops at a manifest that is not JSON, naming it', async () => {
    const dir = tempDir('pm-');
    const folder = writePlugin(dir, 'broken');
    writeFileSync(join(folder, 'MANIFEST.json'), '{ "name": ');
    const error = await loadError(manager().pm, [dir]);
    expect(error.message).toMatch(/MANIFEST\.json: not valid JSON at line 1, column 11: expected a value/);
    expect(error.message.startsWith(join(folder, 'MANIFEST.json'))).toBe(true);
  });

  it('stops at a schema violation, naming the file relative to the working directory and the field', async () => {
    const error = await loadError(manager().pm, ['test/fixtures/pm/typo']);
    expect(error.message).toBe(
      'test/fixtures/pm/typo/foo/MANIFEST.json: missing required field "loads-after"; unknown field "loads_after" (did you mean "loads-after"?)',
    );
  });

  it('names a loads-after cycle and runs no setup', async () => {
    const error = await loadError(manager().pm, ['test/fixtures/pm/cycle']);
    expect(error.message).toBe(
      'loads-after cycle: a (test/fixtures/pm/cycle/a) → b (test/fixtures/pm/cycle/b) → a (each plugin loads after the next; remove one of these "loads-after" entries)',
    );
  });

  it('names both folders when two plugins implement one service', async () => {
    const dir = tempDir('pm-');
    writePlugin(dir, 'one', { implements: ['mail'] });
    writePlugin(dir, 'two', { implements: ['mail'] });
    const error = await loadError(manager().pm, [dir]);
    expect(error.message).toBe(`service "mail" is implemented by two plugins: one (${join(dir, 'one')}) and two (${join(dir, 'two')})`);
  });

  it('names the same plugin folder once when a directory is listed twice', async () => {
    const dir = tempDir('pm-');
    writePlugin(dir, 'once', {}, recording('once'));
    const { pm, events } = manager();
    await pm.loadPlugins([dir, join(dir, '.')]);
    expect(events).toEqual(['once']);
  });

  it('loads built-in plugin folders beside the plugins directories, in the same order', async () => {
    const [dir, builtins] = [tempDir('pm-'), tempDir('pm-builtin-')];
    writePlugin(dir, 'app', { 'loads-after': ['jobs'] }, recording('app'));
    const worker = writePlugin(builtins, 'worker', { implements: ['jobs'] }, recording('built-in worker', "pm.registerService('jobs', {});"));
    const { pm, events } = manager();
    const loaded = await pm.loadPlugins([dir], { builtins: [worker] });
    expect(events).toEqual(['built-in worker', 'app']);
    expect(loaded.map((p) => p.folder)).toEqual([worker, join(dir, 'app')]);
  });

  it('lets a plugin of the same name in the plugins directories replace a built-in one', async () => {
    const [dir, builtins] = [tempDir('pm-'), tempDir('pm-builtin-')];
    writePlugin(dir, 'worker', { implements: ['jobs'] }, recording('own worker', "pm.registerService('jobs', {});"));
    const worker = writePlugin(builtins, 'worker', { implements: ['jobs'] }, recording('built-in worker', "pm.registerService('jobs', {});"));
    const { pm, events } = manager();
    await pm.loadPlugins([dir], { builtins: [worker] });
    expect(events).toEqual(['own worker']);
  });

  it('refuses a plugin implementing a core service', async () => {
    const dir = tempDir('pm-');
    writePlugin(dir, 'fake', { implements: ['config'] });
    const error = await loadError(manager().pm, [dir]);
    expect(error.message).toContain('field "implements" lists "config", which is a core service provided by the host (core services: config, events)');
  });

  it('names the folder, field and service of an unknown requires entry', async () => {
    const dir = tempDir('pm-');
    const folder = writePlugin(dir, 'needy', { requires: ['mail'] });
    const error = await loadError(manager().pm, [dir]);
    expect(error.message).toBe(
      `${join(folder, 'MANIFEST.json')}: field "requires" names service "mail", which no plugin implements and is not a core service (core services: config, events)`,
    );
  });

  it('refuses registering a service the manifest does not implement', async () => {
    const dir = tempDir('pm-');
    const folder = writePlugin(dir, 'sneaky', {}, "export function setup(pm) { pm.registerService('mail', {}); }");
    const error = await loadError(manager().pm, [dir]);
    expect(error.message).toBe(
      `plugin sneaky (${folder}) registered service "mail", which its manifest does not implement: it must be listed in "implements" of ${join(folder, 'MANIFEST.json')}`,
    );
  });

  it('refuses registering a service twice', async () => {
    const dir = tempDir('pm-');
    const folder = writePlugin(dir, 'twice', { implements: ['mail'] }, "export function setup(pm) { pm.registerService('mail', 1); pm.registerService('mail', 2); }");
    const error = await loadError(manager().pm, [dir]);
    expect(error.message).toBe(`plugin twice (${folder}) registered service "mail" twice`);
  });

  it('refuses a setup that does not register every implemented service', async () => {
    const dir = tempDir('pm-');
    const folder = writePlugin(dir, 'lazy', { implements: ['a', 'b', 'c'] }, "export function setup(pm) { pm.registerService('b', {}); }");
    const error = await loadError(manager().pm, [dir]);
    expect(error.message).toBe(`plugin lazy (${folder}): setup() did not register services "a", "c" listed in "implements"`);
  });

  it('wraps a setup that throws, naming the folder and keeping the cause', async () => {
    const dir = tempDir('pm-');
    const folder = writePlugin(dir, 'boom', {}, "export function setup() { throw new TypeError('no database'); }");
    const error = await loadError(manager().pm, [dir]);
    expect(error.message).toBe(`plugin boom (${folder}): setup() failed: no database`);
    expect(error.cause).toBeInstanceOf(TypeError);
    expect((error.cause as Error).message).toBe('no database');
  });

  it('wraps a setup that rejects, and sets up no later plugin', async () => {
    const dir = tempDir('pm-');
    const folder = writePlugin(dir, 'a', {}, "export async function setup() { await null; throw new Error('late failure'); }");
    writePlugin(dir, 'b', {}, recording('b'));
    const { pm, events } = manager();
    const error = await loadError(pm, [dir]);
    expect(error.message).toBe(`plugin a (${folder}): setup() failed: late failure`);
    expect(events).toEqual([]);
    expect(pm.plugins).toEqual([]);
  });

  it('refuses a module without a setup function before any setup runs', async () => {
    const dir = tempDir('pm-');
    writePlugin(dir, 'a', {}, recording('a'));
    const folder = writePlugin(dir, 'b', {}, 'export const setup = 42;');
    const { pm, events } = manager();
    const error = await loadError(pm, [dir]);
    expect(error.message).toBe(`plugin b (${folder}): ${join(folder, 'plugin.js')} must export a function named "setup", but its "setup" export is number`);
    expect(events).toEqual([]);
  });

  it('says when a module has no setup export at all', async () => {
    const dir = tempDir('pm-');
    writePlugin(dir, 'a', {}, 'export default function setup() {}');
    const error = await loadError(manager().pm, [dir]);
    expect(error.message).toMatch(/must export a function named "setup", but it has no such export$/);
  });

  it('names a module that cannot be imported', async () => {
    const dir = tempDir('pm-');
    const folder = writePlugin(dir, 'a', {}, 'export function setup( {');
    const error = await loadError(manager().pm, [dir]);
    expect(error.message.startsWith(`plugin a (${folder}): cannot import ${join(folder, 'plugin.js')}: `)).toBe(true);
    // Node throws a SyntaxError; vitest's module runner its own Error: only the wrapping matters here.
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('says when the package.json over a plugin that cannot be imported does not declare ES modules', async () => {
    const project = tempDir('pm-project-');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', type: 'commonjs' }));
    const folder = writePlugin(join(project, 'plugins'), 'a', {}, 'export function setup( {');
    const error = await loadError(manager().pm, [join(project, 'plugins')]);
    expect(error.message.startsWith(`plugin a (${folder}): cannot import ${join(folder, 'plugin.js')}: `)).toBe(true);
    expect(error.message).toMatch(/ \(\S+package\.json does not declare "type": "module", which plugins written as ES modules need\)$/);
  });

  it('may load plugins only once', async () => {
    const { pm } = manager();
    await pm.loadPlugins([]);
    await expect(pm.loadPlugins([])).rejects.toThrow('loadPlugins() may be called only once per PluginManager');
  });
});

describe('PluginManager services', () => {
  it('names an unknown service and lists the registered ones', () => {
    const { pm } = manager();
    expect(() => pm.getService('mail')).toThrow(new PluginError('no service named "mail" is registered (registered: config, events)'));
  });

  it('says so when there are no services at all', () => {
    const pm = new PluginManager({ logger: memoryLogger().logger });
    expect(() => pm.getService('x')).toThrow('no service named "x" is registered (registered: none)');
  });

  it('suggests loads-after when setup asks for a service that loads later', async () => {
    const dir = tempDir('pm-');
    const folder = writePlugin(dir, 'a', { requires: ['mail'] }, "export function setup(pm) { pm.getService('mail'); }");
    writePlugin(dir, 'b', { implements: ['mail'] }, "export function setup(pm) { pm.registerService('mail', {}); }");
    const error = await loadError(manager().pm, [dir]);
    expect(error.message).toBe(
      `plugin a (${folder}): setup() failed: no service named "mail" is registered (registered: config, events); `
      + `plugin b (${join(dir, 'b')}) implements it but is set up later than plugin a (${folder}): add "mail" to "loads-after" in ${join(folder, 'MANIFEST.json')}`,
    );
  });

  it('refuses registerService outside a plugin setup', () => {
    const { pm } = manager();
    expect(() => pm.registerService('mail', {})).toThrow(/^registerService\("mail"\) was called outside a plugin's setup\(\)/);
  });
});
