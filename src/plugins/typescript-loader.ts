/**
 * Lets `import()` load a plugin written in TypeScript when the host itself
 * runs as compiled JavaScript (the installed package): tsx's loader is
 * registered the first time a `plugin.ts` is found, so a project of `.js`
 * plugins never loads it, and a user installs or registers nothing.
 *
 * When this module is itself TypeScript, something already compiles
 * TypeScript for the process (`tsx main.ts` in this repository, vitest), and
 * nothing is registered.
 */
let registered: Promise<void> | undefined;

export function ensureTypeScriptLoader(): Promise<void> {
  if (import.meta.url.endsWith('.ts')) return Promise.resolve();
  // Global, not a tsx namespace: a namespaced import would give the plugin its own copy of
  // amsoil-scheduler's modules, and `outsideprocess` marks and `instanceof` would no longer match the host's.
  registered ??= import('tsx/esm/api').then(({ register }) => {
    register();
  });
  return registered;
}
