import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliHere } from '../helpers/cli.ts';
import { FIXTURE_PLUGINS, PROJECT_ROOT, runMain } from '../helpers/processes.ts';
import { tempDir } from '../helpers/temp.ts';

/** One line on stderr naming the setting, the path and the reason; nothing on stdout; exit 1. */
function refusal(path: string, reason: string): { code: number; stdout: string; stderr: string } {
  return { code: 1, stdout: '', stderr: `error: cannot open worker.dbpath ${path}: ${reason}\n` };
}

/** A folder holding a file that is not a SQLite database, and what it holds. */
function notADatabase(): { dir: string; path: string; bytes: Buffer } {
  const dir = tempDir('dbpath-');
  const path = join(dir, 'notes.db');
  writeFileSync(path, 'These are my notes, not a database.\n'.repeat(200));
  return { dir, path, bytes: readFileSync(path) };
}

const NOT_A_DATABASE = 'the file is not a SQLite database; it was left as it is (point worker.dbpath at another file, or move this one away)';

describe('a worker.dbpath that cannot be opened: one line, exit 1, nothing touched', () => {
  it('a folder that cannot be created (a file is in the way)', async () => {
    const dir = tempDir('dbpath-');
    writeFileSync(join(dir, 'version'), 'a file');
    const path = join(dir, 'version', 'x.db');
    expect(await runCliHere(['--set', `worker.dbpath=${path}`, 'jobs', 'list'])).toEqual(
      refusal(path, `its folder ${join(dir, 'version')} cannot be created: ${join(dir, 'version')} is a file, not a folder`),
    );
    const deeper = join(dir, 'version', 'a', 'b', 'x.db');
    expect((await runCliHere(['--set', `worker.dbpath=${deeper}`, 'jobs', 'list'])).stderr).toContain(`: ${join(dir, 'version')} is a file, not a folder\n`);
  });

  it('a file that is not a SQLite database, left byte for byte as it was, with nothing made beside it', async () => {
    const { dir, path, bytes } = notADatabase();
    expect(await runCliHere(['--set', `worker.dbpath=${path}`, 'jobs', 'add', 'mail', 'send'])).toEqual(refusal(path, NOT_A_DATABASE));
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect(readdirSync(dir)).toEqual(['notes.db']);
  });

  it('a directory at the path', async () => {
    const path = join(tempDir('dbpath-'), 'jobs.db');
    mkdirSync(path);
    expect(await runCliHere(['--set', `worker.dbpath=${path}`, 'jobs', 'list'])).toEqual(
      refusal(path, `it is a directory; worker.dbpath names the database file itself, e.g. ${join(path, 'worker.db')}`),
    );
  });

  it('a symbolic link to nothing', async () => {
    const dir = tempDir('dbpath-');
    const path = join(dir, 'jobs.db');
    symlinkSync(join(dir, 'elsewhere', 'jobs.db'), path);
    expect(await runCliHere(['--set', `worker.dbpath=${path}`, 'jobs', 'list'])).toEqual(
      refusal(path, `it is a symbolic link to ${join(dir, 'elsewhere', 'jobs.db')}, which does not exist`),
    );
  });

  it('a file, or a folder, this user may not write', async () => {
    const dir = tempDir('dbpath-');
    chmodSync(dir, 0o755);
    const locked = join(dir, 'locked.db');
    writeFileSync(locked, '');
    chmodSync(locked, 0o400);
    const readOnly = join(dir, 'read-only');
    mkdirSync(readOnly, 0o555);
    // root may write anything: run the command as nobody then.
    const uid = process.getuid?.() === 0 ? 65534 : process.getuid?.();
    const user = uid === undefined ? 'this user' : `this user (uid ${uid})`;
    const [file, folder, parent] = await Promise.all([locked, join(readOnly, 'new.db'), join(readOnly, 'sub', 'new.db')].map((path) => runAs(uid, path)));
    expect(file).toEqual(refusal(locked, `permission denied: ${user} cannot read and write the file`));
    expect(folder).toEqual(refusal(join(readOnly, 'new.db'), `permission denied: ${user} cannot create files in ${readOnly}`));
    expect(parent).toEqual(refusal(join(readOnly, 'sub', 'new.db'), `permission denied: ${user} cannot create folders in ${readOnly}`));
    expect(readdirSync(readOnly)).toEqual([]);
  });

  it('the same line from real processes: jobs, the app, the worker\'s supervisor and a worker without one', async () => {
    const { path, bytes } = notADatabase();
    const dir = tempDir('dbpath-');
    writeFileSync(join(dir, 'version'), 'a file');
    const noFolder = join(dir, 'version', 'x.db');
    const folderReason = `its folder ${join(dir, 'version')} cannot be created: ${join(dir, 'version')} is a file, not a folder`;
    const run = (dbPath: string, ...args: string[]) => runMain(['--plugins', FIXTURE_PLUGINS, '--set', `worker.dbpath=${dbPath}`, '--set', 'log.pretty=false', ...args]);
    // The jobs command is run in this process above for every case; here each kind of process once or twice.
    const results = await Promise.all([
      run(path, 'jobs', 'list'),
      run(noFolder),
      run(path, '--worker'),
      run(noFolder, '--worker'),
      run(path, '--worker', '--processes', '0'),
    ]);
    expect(results).toEqual([
      refusal(path, NOT_A_DATABASE),
      refusal(noFolder, folderReason),
      refusal(path, NOT_A_DATABASE),
      refusal(noFolder, folderReason),
      refusal(path, NOT_A_DATABASE),
    ]);
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });
});

/** `main.ts jobs list` on `dbPath`, as the user `uid` (a real process: the user of this one cannot be changed). */
async function runAs(uid: number | undefined, dbPath: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'main.ts'), '--set', `worker.dbpath=${dbPath}`, 'jobs', 'list'], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(uid === undefined || uid === process.getuid?.() ? {} : { uid, gid: uid }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const [code] = await once(child, 'exit');
  return { code: code as number, stdout, stderr };
}
