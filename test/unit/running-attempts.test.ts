import { describe, expect, it } from 'vitest';
import { JobAttempt, type JobRunner } from '../../src/worker/run-job.ts';
import { RunningAttempts } from '../../src/worker/running-attempts.ts';

/** An attempt that is never started: RunningAttempts only reads its job and slot. */
function attempt(id: number): JobAttempt {
  const job = { id, service: 's', method: 'm', params: '{"json":null}', attempt: 1, maxAttempts: 1, timeoutMs: null, isolated: false, database: 'db', parents: 0 };
  return new JobAttempt(job, { clock: { now: () => 0 }, monotonic: () => 0 } as unknown as JobRunner);
}

describe('RunningAttempts', () => {
  it('adds, finds by job id, removes, and reuses freed slots', () => {
    const running = new RunningAttempts();
    const [a, b, c] = [attempt(1), attempt(2), attempt(3)];
    running.add(a);
    running.add(b);
    expect(running.size).toBe(2);
    expect(running.byJobId(2)).toBe(b);
    expect(running.delete(a)).toBe(true);
    expect(running.delete(a)).toBe(false); // not twice
    expect(running.byJobId(1)).toBeUndefined();
    running.add(c);
    expect(c.slot).toBe(0); // a's slot
    expect(running.values().map((x) => x.job.id).sort()).toEqual([2, 3]);
    expect(running.size).toBe(2);
  });

  it('uses no more slots than were ever running at once, through many batches', () => {
    const running = new RunningAttempts();
    let id = 0;
    for (let batch = 0; batch < 100; batch++) {
      const attempts = Array.from({ length: 1 + (batch % 10) }, () => attempt(++id));
      for (const a of attempts) running.add(a);
      for (const a of attempts.reverse()) running.delete(a);
    }
    const slots = new Set<number>();
    const now = Array.from({ length: 10 }, () => attempt(++id));
    for (const a of now) { running.add(a); slots.add(a.slot); }
    expect([...slots].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(running.size).toBe(10);
    expect(running.byJobId(id)).toBe(now[9]);
  });
});
