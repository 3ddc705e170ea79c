import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

const dirs: string[] = [];

/** A fresh temporary folder, removed after the test (kept if it failed, as evidence). */
export function tempDir(prefix = 'sched-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

afterEach((context) => {
  const failed = context.task.result?.state === 'fail';
  for (const dir of dirs.splice(0)) {
    if (failed) console.error(`kept ${dir} for inspection`);
    else rmSync(dir, { recursive: true, force: true });
  }
});
