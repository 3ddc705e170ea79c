import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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
/** The output of every process started in the current test: printed if the test fails, so CI shows why. */
const outputs: { readonly args: readonly string[]; readonly lines: Record<string, unknown>[]; readonly stderr: () => string }[] = [];
/** Processes started in a group of their own: the whole group is killed after the test. */
const groups = new Set<ChildProcess>();

/** How to start a process under test: `node --import tsx main.ts` by default. */
export interface StartOptions {
  readonly env?: Record<string, string>;
  /** The command and its first arguments, before `args`: e.g. `['npx', 'tsx', 'main.ts']`. */
  readonly command?: readonly string[];
  /** In a process group of its own, as a shell starts a foreground job: signal it all with `process.kill(-pid)`. */
  readonly detached?: boolean;
}

/** Starts `node --import tsx main.ts ...args`; killed after the test if still running. */
export function startMain(args: readonly string[], envOrOptions: Record<string, string> | StartOptions = {}): MainProcess {
  const options: StartOptions = 'env' in envOrOptions || 'command' in envOrOptions || 'detached' in envOrOptions
    ? envOrOptions as StartOptions
    : { env: envOrOptions as Record<string, string> };
  const [command, ...first] = options.command ?? [process.execPath, '--import', 'tsx', MAIN];
  const child = spawn(command!, [...first, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached === true,
  });
  if (options.detached === true) groups.add(child);
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
  outputs.push({ args, lines, stderr: () => stderr });

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

/** The flags that point a process at a test database (a SQLite path, or a {@link TestDatabase}) and the fixture plugins. */
export function workerArgs(db: string | { readonly args: readonly string[] }, ...extra: string[]): string[] {
  const dbArgs = typeof db === 'string' ? ['--set', `worker.dbpath=${db}`] : db.args;
  return ['--plugins', FIXTURE_PLUGINS, ...dbArgs, '--set', 'log.pretty=false', ...extra];
}

afterEach((context) => {
  if (context.task.result?.state === 'fail') {
    for (const { args, lines, stderr } of outputs) {
      const tail = lines.slice(-40).map((line) => JSON.stringify(line)).join('\n');
      console.error(`--- main.ts ${args.join(' ')}: last ${Math.min(40, lines.length)} of ${lines.length} log lines ---\n${tail}\n--- stderr ---\n${stderr().slice(-4000)}`);
    }
  }
  outputs.length = 0;
  // A test must not leave a worker running; kill what a failed test left behind.
  for (const child of groups) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
  groups.clear();
  for (const child of running) {
    // Its worker processes first: killed after it, they would be orphans by then, no longer found by their parent.
    for (const pid of descendantsOf(child.pid!)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    child.kill('SIGKILL');
  }
  running.clear();
});

/**
 * The processes descended from `pid` (its worker processes), by the parent
 * ids in /proc; none where /proc cannot be read. A supervisor killed by a
 * failed test left children that went on running (or hung, half loaded) and
 * slowed every test after it.
 */
function descendantsOf(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const childrenOf = new Map<number, number[]>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = childrenOf.get(parent) ?? [];
    list.push(Number(entry));
    childrenOf.set(parent, list);
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of childrenOf.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** One line of a probe plugin's file: a run of a job, or its start or end. */
export interface ProbeLine {
  readonly id: number;
  readonly pid: number;
  readonly event: string;
  readonly attempt: number;
  readonly at: number;
}

/** The lines the probe plugin wrote to `file` (see test/fixtures/plugins/probe). */
export function probeLines(file: string): ProbeLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter(Boolean).map((line) => {
    const [id, pid, event, attempt, at] = line.split(' ');
    return { id: Number(id), pid: Number(pid), event: event ?? 'run', attempt: Number(attempt), at: Number(at) };
  });
}
