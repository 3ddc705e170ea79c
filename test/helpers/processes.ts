import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURE_PLUGINS = fileURLToPath(new URL('../fixtures/plugins/', import.meta.url));
const MAIN = `${PROJECT_ROOT}main.ts`;

/** A running `main.ts` process with its output collected line by line. */
export interface MainProcess {
  readonly child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs(): Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first log line matching, or rejects when the process exits first. */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
}

const running = new Set<ChildProcess>();

/** Starts `node --import tsx main.ts ...args`; killed after the test if still running. */
export function startMain(args: readonly string[], env: Record<string, string> = {}): MainProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    let newline: number;
    while ((newline = stdout.indexOf('\n')) >= 0) {
      const line = stdout.slice(0, newline);
      stdout = stdout.slice(newline + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ text: line });
      }
    }
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exited = once(child, 'exit').then(([code, signal]) => {
    running.delete(child);
    for (const wake of waiters.splice(0)) wake();
    return (code as number | null) ?? (signal as string);
  });
  let done = false;
  void exited.then(() => { done = true; });

  return {
    child,
    logs: () => lines,
    stderr: () => stderr,
    exited,
    async waitForLog(predicate, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find(predicate);
        if (found !== undefined) return found;
        if (done) throw new Error(`process exited before the expected log line; stderr:\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`no matching log line within ${timeoutMs} ms; stderr:\n${stderr}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 100);
          waiters.push(() => { clearTimeout(timer); resolve(); });
        });
      }
    },
  };
}

/** Runs `main.ts ...args` to completion. */
export async function runMain(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const [code, signal] = await once(child, 'exit');
  return { code: (code as number | null) ?? (signal as string), stdout, stderr };
}

/** The flags that point a process at a test database and the fixture plugins. */
export function workerArgs(dbPath: string, ...extra: string[]): string[] {
  return ['--plugins', FIXTURE_PLUGINS, '--set', `worker.dbpath=${dbPath}`, '--set', 'log.pretty=false', ...extra];
}

afterEach(() => {
  // A test must not leave a worker running; kill what a failed test left behind.
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});
