import { describe, expect, it } from 'vitest';
import { PluginError } from '../../src/errors.ts';
import { loadOrder, type PluginCandidate } from '../../src/plugins/load-order.ts';

interface Deps {
  implements?: string[];
  loadsAfter?: string[];
  requires?: string[];
}

/** A candidate named `name` in `plugins/<name>`. */
function plugin(name: string, deps: Deps = {}, folder = `plugins/${name}`): PluginCandidate {
  return {
    folder,
    manifest: {
      name,
      version: '1.0.0',
      implements: deps.implements ?? [],
      'loads-after': deps.loadsAfter ?? [],
      requires: deps.requires ?? [],
    },
  };
}

function names(plugins: readonly PluginCandidate[]): string[] {
  return plugins.map((p) => p.manifest.name);
}

function errorOf(run: () => unknown): PluginError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(PluginError);
    return error as PluginError;
  }
  throw new Error('expected a PluginError');
}

describe('loadOrder', () => {
  it('puts a plugin after the plugins implementing its loads-after services', () => {
    const plugins = [
      plugin('app', { loadsAfter: ['db', 'cache'] }),
      plugin('cache', { implements: ['cache'], loadsAfter: ['db'] }),
      plugin('zdb', { implements: ['db'] }),
    ];
    expect(names(loadOrder(plugins))).toEqual(['zdb', 'cache', 'app']);
  });

  it('loads plugins that are ready together in name order, whatever the input order', () => {
    const plugins = [
      plugin('d', { loadsAfter: ['b'] }),
      plugin('c'),
      plugin('b', { implements: ['b'] }),
      plugin('a', { loadsAfter: ['c'] }),
      plugin('e', { implements: ['c'] }),
    ];
    const expected = ['b', 'c', 'd', 'e', 'a'];
    expect(names(loadOrder(plugins))).toEqual(expected);
    expect(names(loadOrder([...plugins].reverse()))).toEqual(expected);
    expect(names(loadOrder([plugins[2]!, plugins[4]!, plugins[0]!, plugins[3]!, plugins[1]!]))).toEqual(expected);
  });

  it('compares names by code unit, not locale', () => {
    expect(names(loadOrder([plugin('b'), plugin('a'), plugin('B'), plugin('_')]))).toEqual(['B', '_', 'a', 'b']);
  });

  it('does not order by requires', () => {
    const plugins = [plugin('a', { requires: ['z'] }), plugin('z', { implements: ['z'] })];
    expect(names(loadOrder(plugins))).toEqual(['a', 'z']);
  });

  it('counts core services as provided', () => {
    const plugins = [plugin('a', { loadsAfter: ['config'], requires: ['log'] })];
    expect(names(loadOrder(plugins, ['config', 'log']))).toEqual(['a']);
  });

  it('returns the input objects, extra properties included', () => {
    const extra = { ...plugin('a'), path: '/abs/plugins/a' };
    expect(loadOrder([extra])[0]).toBe(extra);
  });

  it('refuses two plugins with the same name, naming both folders', () => {
    const error = errorOf(() => loadOrder([plugin('a', {}, 'more/a'), plugin('a', {}, 'plugins/a')]));
    expect(error.message).toBe('two plugins are named "a": more/a and plugins/a');
  });

  it('refuses a service implemented by two plugins, naming both and the service', () => {
    const error = errorOf(() => loadOrder([plugin('b', { implements: ['mail'] }), plugin('a', { implements: ['mail'] })]));
    expect(error.message).toBe('service "mail" is implemented by two plugins: a (plugins/a) and b (plugins/b)');
  });

  it('refuses a plugin implementing a core service', () => {
    const error = errorOf(() => loadOrder([plugin('a', { implements: ['config'] })], ['config', 'log']));
    expect(error.message).toBe(
      'plugins/a/MANIFEST.json: field "implements" lists "config", which is a core service provided by the host (core services: config, log)',
    );
  });

  it.each(['requires', 'loads-after'] as const)('refuses a %s entry that nothing provides', (field) => {
    const deps: Deps = field === 'requires' ? { requires: ['mail'] } : { loadsAfter: ['mail'] };
    const error = errorOf(() => loadOrder([plugin('a', deps)], ['config']));
    expect(error.message).toBe(
      `plugins/a/MANIFEST.json: field "${field}" names service "mail", which no plugin implements and is not a core service (core services: config)`,
    );
  });

  it('names a two-plugin cycle, starting from the smallest name', () => {
    const plugins = [
      plugin('b', { implements: ['beta'], loadsAfter: ['alpha'] }),
      plugin('a', { implements: ['alpha'], loadsAfter: ['beta'] }),
    ];
    const error = errorOf(() => loadOrder(plugins));
    expect(error.message).toBe(
      'loads-after cycle: a (plugins/a) → b (plugins/b) → a (each plugin loads after the next; remove one of these "loads-after" entries)',
    );
  });

  it('names only the plugins in the cycle, not those waiting on it', () => {
    const plugins = [
      plugin('a', { loadsAfter: ['x'] }),
      plugin('free', { implements: ['free'] }),
      plugin('x', { implements: ['x'], loadsAfter: ['z'] }),
      plugin('y', { implements: ['y'], loadsAfter: ['x', 'free'] }),
      plugin('z', { implements: ['z'], loadsAfter: ['y'] }),
    ];
    expect(errorOf(() => loadOrder(plugins)).message).toMatch(/^loads-after cycle: x \(plugins\/x\) → z \(plugins\/z\) → y \(plugins\/y\) → x \(/);
  });

  it('names a plugin that loads after its own service', () => {
    const error = errorOf(() => loadOrder([plugin('a', { implements: ['alpha'], loadsAfter: ['alpha'] })]));
    expect(error.message).toMatch(/^loads-after cycle: a \(plugins\/a\) → a \(/);
  });

  it('accepts no plugins', () => {
    expect(loadOrder([])).toEqual([]);
  });
});
