/**
 * One process of a benchmark workload: `tsx bench/child.ts SYSTEM ROLE CONTEXT-JSON ARGS-JSON`.
 * Prints `ready` (for workers) and then one JSON line with its measurements.
 */
import { createRequire } from 'node:module';
import { loadSystem } from './systems/index.ts';
import type { Payload } from './systems/types.ts';

const [systemName = '', role = '', contextJson = '{}', argsJson = '{}'] = process.argv.slice(2);
const system = await loadSystem(systemName);
const context = JSON.parse(contextJson) as { dir: string; id: string };
const args = JSON.parse(argsJson) as { n: number; callers?: number; intervalMs?: number; leadMs?: number; spacingMs?: number; idleMs?: number; windows?: number };
const hrNow = (): number => performance.timeOrigin + performance.now();
const print = (value: unknown): void => { process.stdout.write(`${JSON.stringify(value)}\n`); };
const queue = await system.open(context);

switch (role) {
  case 'add-one': {
    const start = performance.now();
    for (let i = 0; i < args.n; i++) await queue.add({ i });
    print({ ms: performance.now() - start });
    break;
  }
  case 'add-concurrent': {
    // `callers` producers at once, each adding one job at a time (a server whose requests each add a job).
    let next = 0;
    const start = performance.now();
    await Promise.all(Array.from({ length: args.callers ?? 100 }, async () => {
      while (next < args.n) await queue.add({ i: next++ });
    }));
    print({ ms: performance.now() - start });
    break;
  }
  case 'add-bulk': {
    const payloads = Array.from({ length: args.n }, (_, i) => ({ i }));
    const start = performance.now();
    // Batches of 10,000 keep a peer's single round trip within its limits; ours takes any size.
    for (let i = 0; i < payloads.length; i += 10_000) await queue.addBulk(payloads.slice(i, i + 10_000));
    print({ ms: performance.now() - start });
    break;
  }
  case 'drain': {
    // From the worker's start to the last completion; the claim rate of the first n jobs of a larger backlog.
    let done = 0;
    let resolve!: () => void;
    const finished = new Promise<void>((r) => { resolve = r; });
    const start = performance.now();
    await queue.work(() => { if (++done === args.n) resolve(); }, system.concurrency);
    await finished;
    const ms = performance.now() - start;
    print({ ms, rssMb: process.resourceUsage().maxRSS / 1024 });
    break;
  }
  case 'latency-worker':
  case 'lateness-worker': {
    const samples: number[] = [];
    let resolve!: () => void;
    const finished = new Promise<void>((r) => { resolve = r; });
    await queue.work((payload: Payload) => {
      samples.push(hrNow() - Number(payload.t));
      if (samples.length === args.n) resolve();
    }, system.concurrency);
    print({ ready: true });
    await finished;
    print({ samples });
    break;
  }
  case 'latency-adder': {
    for (let i = 0; i < args.n; i++) {
      await queue.add({ t: hrNow() });
      await new Promise((r) => setTimeout(r, args.intervalMs ?? 20));
    }
    print({ done: true });
    break;
  }
  case 'lateness-adder': {
    const base = Date.now() + (args.leadMs ?? 500);
    for (let i = 0; i < args.n; i++) {
      const due = base + i * (args.spacingMs ?? 5);
      await queue.add({ t: due }, new Date(due));
    }
    print({ done: true });
    break;
  }
  case 'idle-worker': {
    const queries = countPgQueries();
    await queue.work(() => {}, system.concurrency);
    print({ ready: true });
    // The parent reads CPU time between these marks; queries are counted over the same windows.
    const counts: number[] = [];
    for (let i = 0; i < (args.windows ?? 1); i++) {
      const from = queries.count;
      await new Promise((r) => setTimeout(r, args.idleMs ?? 30_000));
      counts.push(queries.count - from);
    }
    print({ done: true, queries: counts });
    break;
  }
  default:
    throw new Error(`unknown role ${role}`);
}
await queue.close();
process.exit(0);

/**
 * Counts the queries this process sends to PostgreSQL, whoever sends them:
 * every pg.Client's query(), pool clients and LISTEN connections included,
 * in both copies of pg (the top-level one our store uses, and bench's, which
 * the peers use). pg_stat_statements is not loaded on the server, and
 * pg_stat_database's counters are per database and flushed by each backend
 * at most every few seconds; a count in the client is exact and per process.
 */
function countPgQueries(): { readonly count: number } {
  const counter = { count: 0 };
  const copies = new Set<unknown>();
  for (const from of [import.meta.url, new URL('../src/index.ts', import.meta.url).href]) {
    try {
      copies.add(createRequire(from)('pg'));
    } catch {
      // a system without pg
    }
  }
  for (const copy of copies) {
    const proto = (copy as { Client: { prototype: { query: (...args: unknown[]) => unknown } } }).Client.prototype;
    const query = proto.query;
    proto.query = function (this: unknown, ...queryArgs: unknown[]) {
      counter.count++;
      return query.apply(this, queryArgs);
    };
  }
  return counter;
}
