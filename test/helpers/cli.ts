import { runCli } from '../../src/cli/program.ts';
import { PROJECT_ROOT } from './processes.ts';

/**
 * Runs main.ts's command line in this process: the same parsing and the same
 * commands against the same database file, without the ~0.6 s a tsx process
 * costs to start (most of a CLI test's time here). That main.ts turns the
 * status into the process's exit code is tested by spawning it (cli.test.ts).
 * For commands that finish; the app and worker processes are spawned.
 */
export async function runCliHere(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    projectRoot: PROJECT_ROOT,
    mainPath: `${PROJECT_ROOT}main.ts`,
    cwd: PROJECT_ROOT,
    env: process.env,
    stdout: (text) => { stdout += text; },
    stdoutIsTerminal: false,
    stderr: (text) => { stderr += text; },
  });
  if (code === undefined) throw new Error(`runCliHere: \`${args.join(' ')}\` started a long-running process; spawn it with startMain`);
  return { code, stdout, stderr };
}
