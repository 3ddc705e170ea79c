import { resolve } from 'node:path';
import { ConfigService, readConfigFile } from '../config/config-service.ts';
import { oneOf } from '../config/config-values.ts';
import { CORE_KEYS } from '../config/core-keys.ts';
import { ConfigError } from '../errors.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import type { PluginManager } from '../plugins/plugin-manager.ts';

/** What the command line says about where things are. */
export interface HostOptions {
  /**
   * The project: where `plugins/`, `deploy/config.json` and a relative
   * `worker.dbpath` are found. The folder of main.ts in this repository; the
   * current directory (or `--root`) for the installed command.
   */
  readonly projectRoot: string;
  /** `--config FILE`; default `deploy/config.json` (optional). */
  readonly configFile?: string | undefined;
  /** `--set key=value`, already split. */
  readonly overrides: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Services every plugin can rely on, registered before any plugin loads. */
export interface HostInfo {
  /** Where `plugins/`, `deploy/config.json` and a relative `worker.dbpath` are found. */
  readonly projectRoot: string;
  /** Which process this is: plugins load in both, and may add one-off jobs in one only. */
  readonly role: 'app' | 'worker';
}

/** Config with the core keys installed, from defaults, the file, the environment and `--set`. */
export function createConfig(options: HostOptions): ConfigService {
  const explicit = options.configFile !== undefined;
  const path = resolve(options.projectRoot, options.configFile ?? 'deploy/config.json');
  const values = readConfigFile(path, { required: explicit });
  const config = new ConfigService({ file: { path, values }, env: { ...options.env }, overrides: { ...options.overrides } });
  for (const { key, default: value, description } of CORE_KEYS) config.install(key, value, description);
  return config;
}

export function createHostLogger(config: ConfigService, role: string): Logger {
  const pretty = oneOf(config, 'log.pretty', ['auto', 'true', 'false']);
  return createLogger({
    level: String(config.get('log.level')),
    base: { role },
    ...(pretty === 'auto' ? {} : { pretty: pretty === 'true' }),
  });
}

/** Where a process finds its plugins. */
export interface PluginSources {
  readonly pluginDirs: readonly string[];
  /** Plugin folders that come with the host; a plugin of the same name in `pluginDirs` replaces one. */
  readonly builtinPlugins?: readonly string[] | undefined;
}

/**
 * Loads the plugins of `pluginDirs` (and the built-in ones) with `config`,
 * `log` and `host` as core services, then refuses config keys no plugin installed.
 */
export async function loadPlugins(
  config: ConfigService,
  logger: Logger,
  options: HostOptions & PluginSources & { readonly role: HostInfo['role'] },
): Promise<PluginManager> {
  // Imported here, not at the top: the jobs command loads no plugins and need not load ajv.
  const { PluginManager } = await import('../plugins/plugin-manager.ts');
  const host: HostInfo = { projectRoot: options.projectRoot, role: options.role };
  const pm = new PluginManager({ logger, coreServices: { config, log: logger, host } });
  await pm.loadPlugins(options.pluginDirs.map((dir) => resolve(options.projectRoot, dir)), {
    beforeSetup: (manifests) => assertPluginNamespaces(config, manifests.map((m) => m.name)),
    builtins: options.builtinPlugins ?? [],
  });
  config.assertNoUnknownKeys();
  return pm;
}

/**
 * Keys are named `<plugin>.<key>`. A file or `--set` key whose first word is
 * neither a loaded plugin nor a core namespace is a typo; refusing it before
 * any setup() runs means a mistyped `--set wroker.dbpath=…` cannot first let
 * plugins add jobs to the default database. Keys that do match a plugin are
 * checked in full once every plugin has installed its keys.
 */
function assertPluginNamespaces(config: ConfigService, pluginNames: readonly string[]): void {
  const namespaces = new Set([...pluginNames, ...config.knownKeys().map((key) => key.split('.')[0])]);
  const stray = config.pendingKeys().find(({ key }) => !namespaces.has(key.split('.')[0]));
  if (stray !== undefined) {
    throw new ConfigError(`unknown config key "${stray.key}" in ${stray.where}: no loaded plugin is named "${stray.key.split('.')[0]}"`);
  }
}
