import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { tempDir } from '../helpers/temp.ts';

const SCRIPT = fileURLToPath(new URL('../fixtures/open-and-add.ts', import.meta.url));

describe('a new database opened by several processes at once', () => {
  it('is created, switched to WAL and migrated once, and every process gets to write', async () => {
    for (let round = 0; round < 3; round++) {
      const dbPath = join(tempDir('race-'), 'jobs.db');
      const processes = Array.from({ length: 6 }, () => spawn(process.execPath, ['--import', 'tsx', SCRIPT, dbPath], { stdio: ['ignore', 'ignore', 'pipe'] }));
      const stderr = processes.map((p) => { let text = ''; p.stderr.on('data', (d: Buffer) => { text += d.toString(); }); return () => text; });
      const codes = await Promise.all(processes.map(async (p) => (await once(p, 'exit'))[0] as number));
      expect(codes, stderr.map((read) => read()).join('\n')).toEqual([0, 0, 0, 0, 0, 0]);
      const store = SqliteStore.open({ path: dbPath });
      expect(await store.listJobs()).toHaveLength(6);
      await store.close();
    }
  });
});
