/**
 * Entry point: `npx tsx main.ts [--worker] [options]` or `npx tsx main.ts jobs …`.
 * Only wiring: everything it starts lives in src/.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from './src/cli/program.ts';

const mainPath = fileURLToPath(import.meta.url);
const status = await runCli(process.argv.slice(2), {
  projectRoot: dirname(mainPath),
  mainPath,
  cwd: process.cwd(),
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stdoutIsTerminal: process.stdout.isTTY === true,
  stderr: (text) => process.stderr.write(text),
});
if (status !== undefined) process.exitCode = status;
