import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { tempDir } from '../helpers/temp.ts';

const SCRIPT = fileURLToPath(new URL('../fixtures/open-and-add.ts', import.meta.url));
const PROCESSES = 6;
const ROUNDS = 30;

describe('a new database opened by several processes at once', () => {
  it('is created, switched to WAL and migrated once, and every process gets to write', async () => {
    // Started once: each round hands every process a new path at the same moment (see the fixture).
    const processes = Array.from({ length: PROCESSES }, () => spawn(process.execPath, ['--import', 'tsx', SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] }));
    const stderr = processes.map((p) => { let text = ''; p.stderr.on('data', (d: Buffer) => { text += d.toString(); }); return () => text; });
    const exits = processes.map(async (p) => (await once(p, 'exit'))[0] as number | null);
    const lines = processes.map((p) => createInterface({ input: p.stdout })[Symbol.asyncIterator]());
    const failure = (): string => stderr.map((read) => read()).join('\n');
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const dbPath = join(tempDir('race-'), 'jobs.db');
        for (const p of processes) p.stdin.write(`${dbPath}\n`);
        const replies = await Promise.all(lines.map(async (next) => (await next.next()).value as string | undefined));
        expect(replies, failure()).toEqual(Array.from({ length: PROCESSES }, () => 'added'));
        const store = SqliteStore.open({ path: dbPath });
        expect(await store.listJobs()).toHaveLength(PROCESSES);
        await store.close();
      }
    } finally {
      for (const p of processes) p.stdin.end();
    }
    expect(await Promise.all(exits), failure()).toEqual(Array.from({ length: PROCESSES }, () => 0));
  });
});
