import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PluginError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { ServiceRegistry } from '../worker/resolve-target.ts';
import { loadOrder, type PluginCandidate } from './load-order.ts';
import { MANIFEST_FILE, readManifest, type Manifest } from './manifest.ts';
import { ensureTypeScriptLoader } from './typescript-loader.ts';

export type { Manifest } from './manifest.ts';
export type { ServiceRegistry } from '../worker/resolve-target.ts';

/** A plugin whose `setup()` has completed. */
export interface PluginInfo {
  /** `name` from the manifest. */
  readonly name: string;
  /** Absolute path of the plugin's folder. */
  readonly folder: string;
  readonly manifest: Manifest;
}

/** What a plugin module exports as `setup`. It may register services, install config keys and add jobs. */
export type PluginSetup = (pm: PluginManager) => void | Promise<void>;

/** Options of {@link PluginManager}. */
export interface PluginManagerOptions {
  /** Receives one `plugin loaded` line per plugin. */
  readonly logger: Logger;
  /**
   * Services the host provides (at least `config`), registered before any
   * plugin. They satisfy `requires` and `loads-after`; no plugin may implement them.
   */
  readonly coreServices?: Readonly<Record<string, unknown>>;
}

/** Options of {@link PluginManager.loadPlugins}. */
export interface LoadOptions {
  /**
   * Called with every valid manifest, in load order, before any plugin code
   * runs: the last point at which the host can refuse start-up with nothing done.
   */
  readonly beforeSetup?: (manifests: readonly Manifest[]) => void;
  /**
   * Plugin folders that come with the host (the installed package's `worker`
   * plugin). Each loads unless a plugin found in the plugins directories has
   * the same name, which replaces it.
   */
  readonly builtins?: readonly string[];
}

/** Module files that make a folder with a manifest loadable, in order of preference. */
const MODULE_FILES = ['plugin.ts', 'plugin.js'] as const;

/** A plugin found on disk and validated, not yet imported. */
interface FoundPlugin extends PluginCandidate {
  /** Absolute folder; `folder` is the spelling for messages. */
  readonly path: string;
  /** Absolute path of plugin.ts or plugin.js. */
  readonly moduleFile: string;
}

/**
 * Finds plugins (folders holding MANIFEST.json and plugin.ts or plugin.js),
 * sets them up in dependency order, and is the registry of the services they
 * register. Every problem stops start-up with one {@link PluginError} naming
 * the plugin folder and what is wrong.
 *
 * @example
 * ```ts
 * const pm = new PluginManager({ logger, coreServices: { config } });
 * await pm.loadPlugins(['plugins']);
 * const worker = pm.getService<WorkerService>('worker');
 * ```
 */
export class PluginManager implements ServiceRegistry {
  readonly #logger: Logger;
  readonly #services = new Map<string, unknown>();
  readonly #coreNames: readonly string[];
  readonly #loaded: PluginInfo[] = [];
  /** Plugins in load order once loadPlugins() has ordered them, for error hints. */
  #ordered: readonly FoundPlugin[] = [];
  /** The plugin whose setup() is running: registerService() acts on its behalf. */
  #current: FoundPlugin | undefined;
  #loadStarted = false;
  /** Errors that already name the plugin at fault, so they are not wrapped again. */
  readonly #attributed = new WeakSet<PluginError>();

  constructor(options: PluginManagerOptions) {
    this.#logger = options.logger;
    const core = options.coreServices ?? {};
    this.#coreNames = Object.keys(core);
    for (const [name, service] of Object.entries(core)) this.#services.set(name, service);
  }

  /** Plugins whose setup() has completed, in load order. */
  get plugins(): readonly PluginInfo[] {
    return [...this.#loaded];
  }

  /**
   * Registers a service of the plugin whose `setup()` is running. Call it only
   * from `setup()` (including after an `await` in it): the service is
   * attributed to that plugin.
   * @param name Must be listed in the plugin's `implements`.
   * @param service Any value: an object, a class instance, a module namespace….
   * @throws PluginError outside `setup()`, for a service the manifest does not
   *   implement, or for a name registered already.
   */
  registerService(name: string, service: unknown): void {
    const plugin = this.#current;
    if (plugin === undefined) {
      throw new PluginError(
        `registerService("${name}") was called outside a plugin's setup(): plugins register their services in setup(), the host passes its own as coreServices`,
      );
    }
    if (!plugin.manifest.implements.includes(name)) {
      throw this.#attribute(new PluginError(
        `plugin ${label(plugin)} registered service "${name}", which its manifest does not implement: it must be listed in "implements" of ${join(plugin.folder, MANIFEST_FILE)}`,
      ));
    }
    if (this.#services.has(name)) {
      throw this.#attribute(new PluginError(`plugin ${label(plugin)} registered service "${name}" twice`));
    }
    this.#services.set(name, service);
  }

  /**
   * The service registered under `name`. `T` is not checked: it states what
   * the caller expects the service to be.
   * @throws PluginError if no service of that name is registered (yet).
   */
  getService<T = unknown>(name: string): T {
    if (!this.#services.has(name)) throw this.#missingServiceError(name);
    return this.#services.get(name) as T;
  }

  /** Whether a service named `name` is registered (by the host or a plugin set up so far). */
  hasService(name: string): boolean {
    return this.#services.has(name);
  }

  /**
   * Discover, validate, order, import and set up every plugin. Resolves to the plugins in load order.
   *
   * Nothing runs until every manifest is valid, the plugins fit together and
   * every module is imported with a `setup` export; then each `setup()` is
   * awaited in turn, and must register every service its manifest implements.
   *
   * @param dirs Plugins directories; each child folder holding MANIFEST.json is a
   *   plugin. Other folders are skipped with a warning naming them (silently if
   *   their names start with "."); files are ignored. A directory listed twice counts once.
   * @throws PluginError naming the plugin folder and the problem. May be called once.
   */
  async loadPlugins(dirs: readonly string[], options: LoadOptions = {}): Promise<PluginInfo[]> {
    if (this.#loadStarted) throw new PluginError('loadPlugins() may be called only once per PluginManager');
    this.#loadStarted = true;

    const found = findPlugins(dirs, this.#logger);
    const names = new Set(found.map((plugin) => plugin.manifest.name));
    const builtins = (options.builtins ?? []).map((folder) => readPlugin(resolve(folder)));
    found.push(...builtins.filter((plugin) => !names.has(plugin.manifest.name)));
    const ordered = loadOrder(found, this.#coreNames);
    this.#ordered = ordered;
    options.beforeSetup?.(ordered.map((plugin) => plugin.manifest));
    const setups: PluginSetup[] = [];
    for (const plugin of ordered) setups.push(await importSetup(plugin));

    for (const [index, plugin] of ordered.entries()) {
      await this.#setUp(plugin, setups[index]!);
      this.#loaded.push(Object.freeze({ name: plugin.manifest.name, folder: plugin.path, manifest: plugin.manifest }));
      this.#logger.info({ plugin: plugin.manifest.name, version: plugin.manifest.version }, 'plugin loaded');
    }
    return [...this.#loaded];
  }

  async #setUp(plugin: FoundPlugin, setup: PluginSetup): Promise<void> {
    this.#current = plugin;
    try {
      await setup(this);
    } catch (error) {
      if (error instanceof PluginError && this.#attributed.has(error)) throw error;
      throw new PluginError(`plugin ${label(plugin)}: setup() failed: ${messageOf(error)}`, { cause: error });
    } finally {
      this.#current = undefined;
    }
    const missing = plugin.manifest.implements.filter((service) => !this.#services.has(service));
    if (missing.length > 0) {
      const services = missing.map((service) => `"${service}"`).join(', ');
      throw new PluginError(
        `plugin ${label(plugin)}: setup() did not register ${missing.length === 1 ? 'service' : 'services'} ${services} listed in "implements"`,
      );
    }
  }

  #missingServiceError(name: string): PluginError {
    const registered = [...this.#services.keys()].sort();
    let message = `no service named "${name}" is registered (registered: ${registered.length === 0 ? 'none' : registered.join(', ')})`;
    // The usual cause inside setup(): the provider is listed in "requires" but not "loads-after".
    const provider = this.#ordered.find((plugin) => plugin.manifest.implements.includes(name));
    const caller = this.#current;
    if (provider !== undefined && caller !== undefined && provider !== caller) {
      message += `; plugin ${label(provider)} implements it but is set up later than plugin ${label(caller)}: add "${name}" to "loads-after" in ${join(caller.folder, MANIFEST_FILE)}`;
    }
    return new PluginError(message);
  }

  #attribute(error: PluginError): PluginError {
    this.#attributed.add(error);
    return error;
  }
}

/**
 * Every plugin folder in `dirs`, with its manifest read and its module file
 * found. A folder without MANIFEST.json is not a plugin and is skipped, with a
 * warning naming it (a manifest misspelt or forgotten would otherwise make a
 * plugin vanish without a word); folders whose names start with "." are skipped silently.
 */
function findPlugins(dirs: readonly string[], logger: Logger): FoundPlugin[] {
  const found: FoundPlugin[] = [];
  for (const dir of new Set(dirs.map((d) => resolve(d)))) {
    const stats = statSync(dir, { throwIfNoEntry: false });
    if (stats === undefined) throw new PluginError(`plugins directory ${displayPath(dir)} does not exist`);
    if (!stats.isDirectory()) throw new PluginError(`plugins directory ${displayPath(dir)} is not a directory`);
    // Sorted so that per-folder errors (e.g. a bad manifest) are reported the same way everywhere.
    for (const entry of readdirSync(dir).sort()) {
      const path = join(dir, entry);
      // statSync follows symlinks, so a linked plugin folder counts.
      if (entry.startsWith('.') || statSync(path, { throwIfNoEntry: false })?.isDirectory() !== true) continue;
      // By the names in the folder, not existsSync: a case-insensitive file system would find manifest.json
      // as MANIFEST.json, and the project would load there but not on Linux.
      let files: string[];
      try {
        files = readdirSync(path);
      } catch (error) {
        throw new PluginError(`cannot read plugin folder ${displayPath(path)}: ${messageOf(error)}`, { cause: error });
      }
      if (files.includes(MANIFEST_FILE)) {
        found.push(readPlugin(path));
        continue;
      }
      const folder = displayPath(path);
      const misnamed = files.find((file) => file.toLowerCase() === MANIFEST_FILE.toLowerCase());
      logger.warn(
        { folder },
        misnamed === undefined
          ? `skipped folder ${folder}: it has no ${MANIFEST_FILE}, so it is not a plugin`
          : `skipped folder ${folder}: its manifest is named ${misnamed}, but it must be named ${MANIFEST_FILE} (in capitals)`,
      );
    }
  }
  return found;
}

/** The plugin in the folder `path` (absolute), with its manifest read and its module file found. */
function readPlugin(path: string): FoundPlugin {
  const folder = displayPath(path);
  const manifest = readManifest(folder);
  const moduleFile = MODULE_FILES.map((file) => join(path, file)).find((file) => existsSync(file));
  if (moduleFile === undefined) {
    throw new PluginError(`plugin folder ${folder} has ${MANIFEST_FILE} but no ${MODULE_FILES.join(' or ')}`);
  }
  return { manifest, folder, path, moduleFile };
}

/** Imports the plugin's module and returns its `setup` export. */
async function importSetup(plugin: FoundPlugin): Promise<PluginSetup> {
  const file = displayPath(plugin.moduleFile);
  let module: unknown;
  try {
    if (plugin.moduleFile.endsWith('.ts')) await ensureTypeScriptLoader();
    module = await import(pathToFileURL(plugin.moduleFile).href);
  } catch (error) {
    throw new PluginError(`plugin ${label(plugin)}: cannot import ${file}: ${messageOf(error)}${moduleTypeHint(plugin.path)}`, { cause: error });
  }
  const setup = typeof module === 'object' && module !== null && 'setup' in module ? module.setup : undefined;
  if (typeof setup !== 'function') {
    const got = setup === undefined ? 'it has no such export' : `its "setup" export is ${typeof setup}`;
    throw new PluginError(`plugin ${label(plugin)}: ${file} must export a function named "setup", but ${got}`);
  }
  return setup as PluginSetup;
}

/**
 * Plugins are ES modules, and Node and tsx read a `.js` or `.ts` file as one
 * only under a package.json saying `"type": "module"` (`npm init` writes
 * `"commonjs"`). When the nearest package.json does not, the error of a
 * failed import rarely says so: this does.
 */
function moduleTypeHint(folder: string): string {
  for (let dir = folder; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      let type: unknown;
      try {
        type = (JSON.parse(readFileSync(file, 'utf8')) as { type?: unknown }).type;
      } catch {
        // Node reports a broken package.json itself, in the error this hint follows.
        return '';
      }
      return type === 'module' ? '' : ` (${displayPath(file)} does not declare "type": "module", which plugins written as ES modules need)`;
    }
    if (dirname(dir) === dir) return ' (no package.json above the plugin declares "type": "module", which plugins written as ES modules need)';
  }
}

/** `path` relative to the working directory when inside it (shorter, as users typed it), else absolute. */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  if (rel === '') return '.';
  return rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? path : rel;
}

function label(plugin: PluginCandidate): string {
  return `${plugin.manifest.name} (${plugin.folder})`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
