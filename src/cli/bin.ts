#!/usr/bin/env node
/**
 * The installed package's command: `npx amsoil-scheduler [--worker] [options]`
 * or `npx amsoil-scheduler jobs …` in a user's project. As main.ts, but the
 * project root is the current directory (or `--root DIR`), and the package's
 * own `worker` plugin loads besides the project's plugins. Only wiring.
 */
import { fileURLToPath } from 'node:url';
import { runCli } from './program.ts';

const status = await runCli(process.argv.slice(2), {
  name: 'amsoil-scheduler',
  projectRoot: process.cwd(),
  // dist/src/cli/ → dist/plugins/worker and dist/plugins/web, compiled from plugins/ by `npm run build`. A project
  // plugin of the same name takes their place; `--set web.port=0` turns the dashboard off.
  builtinPlugins: ['worker', 'web'].map((name) => fileURLToPath(new URL(`../../plugins/${name}/`, import.meta.url))),
  mainPath: fileURLToPath(import.meta.url),
  cwd: process.cwd(),
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stdoutIsTerminal: process.stdout.isTTY === true,
  stderr: (text) => process.stderr.write(text),
});
if (status !== undefined) process.exitCode = status;
