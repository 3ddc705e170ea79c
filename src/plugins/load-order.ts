import { join } from 'node:path';
import { PluginError } from '../errors.ts';
import { MANIFEST_FILE, type Manifest } from './manifest.ts';

/** What {@link loadOrder} needs to know about a plugin. */
export interface PluginCandidate {
  readonly manifest: Manifest;
  /** The plugin's folder, spelled the way messages should name it (e.g. `plugins/foo`). */
  readonly folder: string;
}

/**
 * Checks that the plugins fit together and returns them in the order their
 * `setup()` must run.
 *
 * A plugin comes after every plugin implementing a service in its
 * `loads-after`. Among plugins free to load at the same time, the one whose
 * `name` sorts first (plain code-unit comparison) goes first, so the order never
 * depends on the order of `plugins` (i.e. of directory listings).
 *
 * Pure: reads no files and keeps no state.
 *
 * @param plugins Validated manifests with their folders; extra properties are kept.
 * @param coreServices Services the host registers before any plugin: they satisfy
 *   `requires` and `loads-after`, and no plugin may implement them.
 * @throws PluginError on the first problem found: two plugins with one name, a
 *   service implemented twice or shadowing a core service, a `requires` or
 *   `loads-after` entry nobody provides, or a `loads-after` cycle.
 */
export function loadOrder<T extends PluginCandidate>(plugins: readonly T[], coreServices: readonly string[] = []): T[] {
  // Checking in a fixed order makes the reported problem the same on every machine.
  const sorted = [...plugins].sort((a, b) => compare(a.manifest.name, b.manifest.name) || compare(a.folder, b.folder));
  const core = new Set(coreServices);
  checkUniqueNames(sorted);
  const providers = mapProviders(sorted, core);
  checkDependenciesExist(sorted, providers, core);
  return sortByLoadsAfter(sorted, providers);
}

function checkUniqueNames(sorted: readonly PluginCandidate[]): void {
  for (let i = 1; i < sorted.length; i++) {
    const [previous, current] = [sorted[i - 1]!, sorted[i]!];
    if (previous.manifest.name === current.manifest.name) {
      throw new PluginError(`two plugins are named "${current.manifest.name}": ${previous.folder} and ${current.folder}`);
    }
  }
}

/** Service name → the one plugin implementing it. */
function mapProviders<T extends PluginCandidate>(sorted: readonly T[], core: ReadonlySet<string>): Map<string, T> {
  const providers = new Map<string, T>();
  for (const plugin of sorted) {
    for (const service of plugin.manifest.implements) {
      if (core.has(service)) {
        throw new PluginError(
          `${manifestPath(plugin)}: field "implements" lists "${service}", which is a core service provided by the host (core services: ${list(core)})`,
        );
      }
      const other = providers.get(service);
      if (other !== undefined) {
        throw new PluginError(`service "${service}" is implemented by two plugins: ${label(other)} and ${label(plugin)}`);
      }
      providers.set(service, plugin);
    }
  }
  return providers;
}

function checkDependenciesExist(
  sorted: readonly PluginCandidate[],
  providers: ReadonlyMap<string, PluginCandidate>,
  core: ReadonlySet<string>,
): void {
  for (const plugin of sorted) {
    for (const field of ['requires', 'loads-after'] as const) {
      for (const service of plugin.manifest[field]) {
        if (!providers.has(service) && !core.has(service)) {
          throw new PluginError(
            `${manifestPath(plugin)}: field "${field}" names service "${service}", which no plugin implements and is not a core service (core services: ${list(core)})`,
          );
        }
      }
    }
  }
}

/** Kahn's algorithm, always taking the first ready plugin by name. */
function sortByLoadsAfter<T extends PluginCandidate>(sorted: readonly T[], providers: ReadonlyMap<string, T>): T[] {
  // Core services are registered before any plugin, so only plugins are edges.
  const dependencies = new Map<T, T[]>(sorted.map((plugin) => [
    plugin,
    plugin.manifest['loads-after'].flatMap((service) => providers.get(service) ?? []),
  ]));
  const loaded = new Set<T>();
  const ordered: T[] = [];
  let remaining = sorted;
  while (remaining.length > 0) {
    // `remaining` stays in name order, so the first ready plugin is the one to load.
    const next = remaining.find((plugin) => dependencies.get(plugin)!.every((dependency) => loaded.has(dependency)));
    if (next === undefined) throw cycleError(remaining, dependencies);
    loaded.add(next);
    ordered.push(next);
    remaining = remaining.filter((plugin) => plugin !== next);
  }
  return ordered;
}

/**
 * When nothing is ready, every remaining plugin waits for another remaining
 * one, so walking "waits for" links from any of them must come back to a
 * plugin already seen: that loop is the cycle.
 */
function cycleError<T extends PluginCandidate>(remaining: readonly T[], dependencies: ReadonlyMap<T, readonly T[]>): PluginError {
  const waiting = new Set(remaining);
  const path: T[] = [];
  let current = remaining[0]!;
  while (!path.includes(current)) {
    path.push(current);
    // Among several links, follow the first by name so the reported cycle is stable.
    const blockers = dependencies.get(current)!.filter((plugin) => waiting.has(plugin));
    current = blockers.sort((a, b) => compare(a.manifest.name, b.manifest.name))[0]!;
  }
  const cycle = path.slice(path.indexOf(current));
  // Start at the smallest name: the same cycle is always reported the same way.
  const first = cycle.reduce((min, plugin, index) => (compare(plugin.manifest.name, cycle[min]!.manifest.name) < 0 ? index : min), 0);
  const rotated = [...cycle.slice(first), ...cycle.slice(0, first)];
  const text = [...rotated.map(label), rotated[0]!.manifest.name].join(' → ');
  return new PluginError(`loads-after cycle: ${text} (each plugin loads after the next; remove one of these "loads-after" entries)`);
}

function label(plugin: PluginCandidate): string {
  return `${plugin.manifest.name} (${plugin.folder})`;
}

function manifestPath(plugin: PluginCandidate): string {
  return join(plugin.folder, MANIFEST_FILE);
}

function list(names: ReadonlySet<string>): string {
  return names.size === 0 ? 'none' : [...names].sort(compare).join(', ');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
