/**
 * `npm run build` (and `prepack`, so `npm pack` and `npm publish` ship a fresh
 * build): compiles src/ and the worker and web plugins to JavaScript with declarations
 * in dist/, then copies beside the compiled modules the files they read at run
 * time relative to themselves (`migrations/*.sql`, `checkpoint-thread.cjs`,
 * the plugin's MANIFEST.json): every file in those folders that tsc does not
 * compile, so a new migration ships without touching this script.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const OUT = join(ROOT, 'dist');
/** What tsconfig.build.json compiles; its other files are copied. */
const SOURCES = ['src', 'plugins/worker', 'plugins/web'];

// A module renamed or deleted since the last build must not ship from a stale dist/.
rmSync(OUT, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });

let copied = 0;
for (const source of SOURCES) {
  for (const file of readdirSync(join(ROOT, source), { recursive: true, withFileTypes: true })) {
    if (!file.isFile() || file.name.endsWith('.ts')) continue;
    const from = join(file.parentPath, file.name);
    cpSync(from, join(OUT, relative(ROOT, from)));
    copied++;
  }
}
console.log(`built ${relative(process.cwd(), OUT) || '.'}: compiled ${SOURCES.join(' and ')}, copied ${copied} other files`);
