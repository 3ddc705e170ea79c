import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.ts';
import { ConfigService, envVarName, parseSetFlag, readConfigFile, type ConfigServiceOptions } from '../../src/config/config-service.ts';
import { tempDir } from '../helpers/temp.ts';

const FILE = 'deploy/config.json';

function withFile(values: Record<string, unknown>, options: Omit<ConfigServiceOptions, 'file'> = {}): ConfigService {
  return new ConfigService({ ...options, file: { path: FILE, values } });
}

function configError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('ConfigService sources', () => {
  it('gives the installed default when nothing else sets the key', () => {
    const config = new ConfigService();
    config.install('worker.concurrency', 10, 'Jobs at once.');
    expect(config.get('worker.concurrency')).toBe(10);
    expect(config.list()).toEqual([{ key: 'worker.concurrency', value: 10, default: 10, description: 'Jobs at once.', source: 'default' }]);
  });

  it('ranks default < file < env < --set < set()', () => {
    const config = new ConfigService({
      file: { path: FILE, values: { 'k.file': 1, 'k.env': 1, 'k.flag': 1, 'k.runtime': 1 } },
      env: { K_ENV: '2', K_FLAG: '2', K_RUNTIME: '2' },
      overrides: { 'k.flag': '3', 'k.runtime': '3' },
    });
    for (const key of ['k.default', 'k.file', 'k.env', 'k.flag', 'k.runtime']) config.install(key, 0, key);
    config.set('k.runtime', 4);

    expect(config.list().map(({ key, value, source }) => [key, value, source])).toEqual([
      ['k.default', 0, 'default'],
      ['k.env', 2, 'env'],
      ['k.file', 1, 'file'],
      ['k.flag', 3, 'set'],
      ['k.runtime', 4, 'runtime'],
    ]);
  });

  it('holds file and --set values until the key is installed', () => {
    const config = withFile({ 'late.key': 'from file' }, { overrides: { 'late.other': 'from flag' } });
    expect(() => config.get('late.key')).toThrow(ConfigError);
    config.install('late.key', 'default', 'Installed by a plugin during setup.');
    config.install('late.other', 'default', 'Installed by a plugin during setup.');
    expect(config.get('late.key')).toBe('from file');
    expect(config.get('late.other')).toBe('from flag');
  });

  it('reads the environment variable named after the key', () => {
    expect(envVarName('worker.dbpath')).toBe('WORKER_DBPATH');
    expect(envVarName('my-plugin.leaseSeconds')).toBe('MY_PLUGIN_LEASESECONDS');
    const config = new ConfigService({ env: { WORKER_DBPATH: '/var/lib/jobs.db' } });
    config.install('worker.dbpath', 'deploy/worker.db', 'Job database.');
    expect(config.get('worker.dbpath')).toBe('/var/lib/jobs.db');
  });

  it('ignores the environment unless given one', () => {
    process.env.HERMETIC_KEY = 'from process.env';
    try {
      const config = new ConfigService();
      config.install('hermetic.key', 'default', 'Must not see process.env.');
      expect(config.get('hermetic.key')).toBe('default');
    } finally {
      delete process.env.HERMETIC_KEY;
    }
  });

  it('getAll is list, and knownKeys lists the installed keys sorted', () => {
    const config = new ConfigService();
    config.install('b.key', true, 'B.');
    config.install('a.key', 'x', 'A.');
    expect(config.getAll()).toEqual(config.list());
    expect(config.knownKeys()).toEqual(['a.key', 'b.key']);
  });
});

describe('ConfigService coercion of environment and --set strings', () => {
  function coerced(defaultValue: Parameters<ConfigService['install']>[1], text: string): unknown {
    const config = new ConfigService({ overrides: { key: text } });
    config.install('key', defaultValue, 'Test key.');
    return config.get('key');
  }

  it('keeps strings as they are', () => {
    expect(coerced('x', ' 42 ')).toBe(' 42 ');
    expect(coerced('x', '')).toBe('');
  });

  it('turns numbers into finite numbers', () => {
    expect(coerced(10, '42')).toBe(42);
    expect(coerced(10, ' -1.5 ')).toBe(-1.5);
    expect(coerced(10, '1e3')).toBe(1000);
  });

  it('accepts true/false/1/0/yes/no for booleans, in any case', () => {
    expect(['true', 'FALSE', '1', '0', 'Yes', 'no'].map((text) => coerced(false, text))).toEqual([true, false, true, false, true, false]);
  });

  it('parses JSON for array, object and null defaults', () => {
    expect(coerced([], '["a", 1]')).toEqual(['a', 1]);
    expect(coerced({}, '{"retries": 3}')).toEqual({ retries: 3 });
    expect(coerced(null, '"anything"')).toBe('anything');
  });

  it('names the key, the source and the value of a bad number', () => {
    const env = () => {
      const config = new ConfigService({ env: { WORKER_CONCURRENCY: 'ten' } });
      config.install('worker.concurrency', 10, 'Jobs at once.');
    };
    expect(configError(env)).toBe('config key "worker.concurrency" from environment variable WORKER_CONCURRENCY must be a finite number, got "ten"');
    expect(configError(() => coerced(10, ''))).toBe('config key "key" from --set must be a finite number, got ""');
    expect(configError(() => coerced(10, 'Infinity'))).toBe('config key "key" from --set must be a finite number, got "Infinity"');
  });

  it('refuses other words for booleans', () => {
    expect(configError(() => coerced(true, 'maybe'))).toBe('config key "key" from --set must be true, false, 1, 0, yes or no, got "maybe"');
  });

  it('refuses JSON that does not parse or is of the wrong kind', () => {
    expect(configError(() => coerced([], '[1,'))).toMatch(/^config key "key" from --set must be JSON for an array, got "\[1," \(.+\)$/);
    expect(configError(() => coerced([], '{}'))).toBe('config key "key" from --set must be JSON for an array, got "{}" (an object)');
    expect(configError(() => coerced({}, 'null'))).toBe('config key "key" from --set must be JSON for an object, got "null" (null)');
  });
});

describe('ConfigService type checks', () => {
  it('names the key, file, expected type and value of a file value of the wrong type', () => {
    const config = withFile({ 'worker.concurrency': '10' });
    expect(configError(() => config.install('worker.concurrency', 10, 'Jobs at once.')))
      .toBe('config key "worker.concurrency" in deploy/config.json must be a number, got the string "10"');
  });

  it('checks arrays and objects by kind', () => {
    expect(configError(() => withFile({ list: { a: 1 } }).install('list', ['x'], 'A list.')))
      .toBe('config key "list" in deploy/config.json must be an array, got an object');
    expect(configError(() => withFile({ map: [1] }).install('map', {}, 'A map.')))
      .toBe('config key "map" in deploy/config.json must be an object, got an array');
  });

  it('checks a file value even when a higher source overrides it', () => {
    const config = withFile({ 'a.flag': 'yes' }, { overrides: { 'a.flag': 'true' } });
    expect(configError(() => config.install('a.flag', false, 'A flag.'))).toBe('config key "a.flag" in deploy/config.json must be a boolean, got the string "yes"');
  });

  it('lets a null default take any JSON value', () => {
    const config = withFile({ anything: { nested: [1, 'two'] } });
    config.install('anything', null, 'Whatever the user says.');
    expect(config.get('anything')).toEqual({ nested: [1, 'two'] });
  });

  it('set() checks the type like the file, and refuses unknown keys', () => {
    const config = new ConfigService();
    config.install('worker.concurrency', 10, 'Jobs at once.');
    expect(configError(() => config.set('worker.concurrency', '4'))).toBe('config key "worker.concurrency" in set() must be a number, got the string "4"');
    expect(configError(() => config.set('worker.concurency', 4))).toMatch(/^cannot set config key "worker\.concurency": it is not installed/);
    // Plain JavaScript callers can pass anything; only JSON values are kept.
    expect(configError(() => config.set('worker.concurrency', Number.NaN))).toBe('config key "worker.concurrency" in set() must be a number, got the number NaN');
  });

  it('returns frozen copies, so no caller can change config by mutation', () => {
    const defaults = { retries: [1, 2] };
    const config = new ConfigService();
    config.install('retry.policy', defaults, 'Retry policy.');
    defaults.retries.push(3);
    const value = config.get('retry.policy') as { retries: number[] };
    expect(value).toEqual({ retries: [1, 2] });
    expect(Object.isFrozen(value.retries)).toBe(true);
  });
});

describe('ConfigService misuse by plugins', () => {
  it('names an unknown key on get', () => {
    expect(configError(() => new ConfigService().get('worker.dbpath')))
      .toBe('cannot read config key "worker.dbpath": it is not installed (a plugin must install() it first)');
  });

  it('refuses installing a key twice', () => {
    const config = new ConfigService();
    config.install('worker.dbpath', 'a.db', 'Job database.');
    expect(configError(() => config.install('worker.dbpath', 'b.db', 'Another.')))
      .toBe('config key "worker.dbpath" is installed already ("Job database."): each key is installed once, by the plugin that owns it');
  });

  it('refuses malformed keys', () => {
    for (const key of ['', 'a..b', '.a', 'a.', 'a b', 'a=b']) {
      expect(configError(() => new ConfigService().install(key, 1, 'Bad key.'))).toMatch(/^config key ".*" is not valid: /);
    }
  });

  it('refuses defaults that are not JSON values', () => {
    const install = (value: unknown) => () => new ConfigService().install('k', value as never, 'K.');
    expect(configError(install(undefined))).toBe('default of config key "k" must be a string, finite number, boolean, null, array or plain object, got undefined');
    expect(configError(install(new Date(0)))).toMatch(/got a Date$/);
    expect(configError(install({ when: () => 1 }))).toMatch(/got an object$/);
  });

  it('refuses two keys that would read the same environment variable', () => {
    const config = new ConfigService();
    config.install('my-plugin.port', 1, 'Port.');
    expect(configError(() => config.install('my.plugin.port', 2, 'Port.')))
      .toBe('config keys "my-plugin.port" and "my.plugin.port" would both read environment variable MY_PLUGIN_PORT: rename one');
  });
});

describe('ConfigService.assertNoUnknownKeys', () => {
  it('passes when every file and --set key was installed', () => {
    const config = withFile({ 'a.key': 1 }, { overrides: { 'b.key': '2' } });
    config.install('a.key', 0, 'A.');
    config.install('b.key', 0, 'B.');
    expect(() => config.assertNoUnknownKeys()).not.toThrow();
  });

  it('names an unknown key in the file', () => {
    const config = withFile({ 'worker.dbpath': 'x.db', 'wroker.dbpath': 'y.db' });
    config.install('worker.dbpath', 'deploy/worker.db', 'Job database.');
    expect(configError(() => config.assertNoUnknownKeys())).toBe('unknown config key "wroker.dbpath" in deploy/config.json');
  });

  it('names an unknown key from --set', () => {
    const config = new ConfigService({ overrides: { 'worker.concurency': '4' } });
    config.install('worker.concurrency', 10, 'Jobs at once.');
    expect(configError(() => config.assertNoUnknownKeys())).toBe('unknown config key "worker.concurency" in --set');
  });

  it('hints at the right spelling when it is obvious', () => {
    const config = withFile({ 'Worker.DBPath': 'x', worker: { concurrency: 4 } });
    config.install('worker.dbpath', 'deploy/worker.db', 'Job database.');
    config.install('worker.concurrency', 10, 'Jobs at once.');
    expect(configError(() => config.assertNoUnknownKeys())).toBe('unknown config key "Worker.DBPath" in deploy/config.json (did you mean "worker.dbpath"?)');
    const nested = withFile({ worker: { concurrency: 4 } });
    nested.install('worker.concurrency', 10, 'Jobs at once.');
    expect(configError(() => nested.assertNoUnknownKeys()))
      .toBe('unknown config key "worker" in deploy/config.json (keys are written in full, e.g. "worker.concurrency")');
  });
});

describe('parseSetFlag', () => {
  it('splits at the first "="', () => {
    expect(parseSetFlag('worker.dbpath=/tmp/a=b.db')).toEqual({ key: 'worker.dbpath', value: '/tmp/a=b.db' });
    expect(parseSetFlag('log.level=')).toEqual({ key: 'log.level', value: '' });
  });

  it('names a flag without "="', () => {
    expect(configError(() => parseSetFlag('worker.concurrency'))).toBe('--set "worker.concurrency" must have the form key=value');
  });

  it('names a flag with an empty key', () => {
    expect(configError(() => parseSetFlag('=4'))).toBe('--set "=4" has an empty key: expected key=value');
  });
});

describe('readConfigFile', () => {
  function file(content: string): string {
    const path = join(tempDir('config-'), 'config.json');
    writeFileSync(path, content);
    return path;
  }

  it('reads a JSON object', () => {
    expect(readConfigFile(file('{ "worker.concurrency": 4 }'), { required: true })).toEqual({ 'worker.concurrency': 4 });
    expect(readConfigFile(file('\uFEFF{}'), { required: true })).toEqual({});
  });

  it('treats a missing optional file as empty, and a missing required file as an error', () => {
    const missing = join(tempDir('config-'), 'config.json');
    expect(readConfigFile(missing, { required: false })).toEqual({});
    expect(configError(() => readConfigFile(missing, { required: true }))).toBe(`config file ${missing} does not exist`);
  });

  it('names the file when it is not valid JSON', () => {
    const path = file('{ "worker.concurrency": 4, }');
    expect(configError(() => readConfigFile(path, { required: false }))).toMatch(new RegExp(`^config file ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid JSON: .+`));
  });

  it('names the file when it does not hold an object', () => {
    const path = file('[1, 2]');
    expect(configError(() => readConfigFile(path, { required: true }))).toBe(`config file ${path} must hold a JSON object of "key": value pairs, got an array`);
  });

  it('names the file when it cannot be read', () => {
    const dir = join(tempDir('config-'), 'config.json');
    mkdirSync(dir);
    expect(configError(() => readConfigFile(dir, { required: false }))).toMatch(/^cannot read config file .*config\.json: EISDIR/);
  });
});
