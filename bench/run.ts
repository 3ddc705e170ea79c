/**
 * `npm run bench [-- --quick] [-- --json] [-- --only ours,plainjob] [-- --workloads drain,latency]`: the same workloads for this project and
 * its peers, each in separate adder and worker processes, printed as one table with each figure's ratio to
 * the best peer. Full runs write bench/RESULTS.md.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { describeCeiling, measureCeiling, type Ceiling } from './sqlite-ceiling.ts';
import { loadSystem, SYSTEM_NAMES } from './systems/index.ts';
import type { BenchContext, BenchSystem } from './systems/types.ts';

const { values: flags } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, only: { type: 'string' }, workloads: { type: 'string' } },
});
const quick = flags.quick === true;
const sizes = quick
  ? { addOne: 5_000, bulk: 20_000, drain: 10_000, latency: 200, lateness: 200, scaleSmall: 10_000, scaleLarge: 100_000, scaleProbe: 5_000, idleMs: 5_000 }
  : { addOne: 50_000, bulk: 200_000, drain: 50_000, latency: 1_000, lateness: 1_000, scaleSmall: 10_000, scaleLarge: 1_000_000, scaleProbe: 10_000, idleMs: 30_000 };

interface Metric {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  /** Whether a larger figure is better. */
  readonly higher: boolean;
  /** A check rather than a race: no ratio is shown. */
  readonly noRatio?: boolean;
}

const METRICS: Metric[] = [
  { key: 'addOne', label: `add one at a time (${fmt(sizes.addOne)})`, unit: 'jobs/s', higher: true },
  { key: 'addConcurrent', label: `add, 100 concurrent callers (${fmt(sizes.addOne)})`, unit: 'jobs/s', higher: true },
  { key: 'bulk', label: `bulk add (${fmt(sizes.bulk)})`, unit: 'jobs/s', higher: true },
  { key: 'drain', label: `drain, no-op (${fmt(sizes.drain)})`, unit: 'jobs/s', higher: true },
  { key: 'latencyP50', label: 'add → start, p50', unit: 'ms', higher: false },
  { key: 'latencyP99', label: 'add → start, p99', unit: 'ms', higher: false },
  { key: 'latenessP50', label: 'scheduled lateness, p50', unit: 'ms', higher: false },
  { key: 'latenessP99', label: 'scheduled lateness, p99', unit: 'ms', higher: false },
  { key: 'earliest', label: 'scheduled, earliest start − due (< 0 = early)', unit: 'ms', higher: true, noRatio: true },
  { key: 'claimSmall', label: `claim rate, ${fmt(sizes.scaleSmall)} waiting`, unit: 'jobs/s', higher: true },
  { key: 'claimLarge', label: `claim rate, ${fmt(sizes.scaleLarge)} waiting`, unit: 'jobs/s', higher: true },
  { key: 'rssLarge', label: `worker peak RSS, ${fmt(sizes.scaleLarge)} waiting`, unit: 'MB', higher: false },
  { key: 'idleCpu', label: `idle worker CPU (${sizes.idleMs / 1000} s)`, unit: '% core', higher: false },
  { key: 'idleCpuLater', label: `idle worker CPU, the next ${sizes.idleMs / 1000} s`, unit: '% core', higher: false },
  { key: 'idleQueries', label: `idle worker queries (PostgreSQL, both windows)`, unit: 'per s', higher: false },
];

type Results = Map<string, Map<string, number>>;

/** Worker concurrency each system ran with, shown in the table header. */
const concurrencyOf = new Map<string, number>();
/** Each system's store (`SQLite`, `Redis`, `PostgreSQL`): our PostgreSQL row is compared with PostgreSQL peers. */
const storeOf = new Map<string, string>();

const CLOCK_TICKS = 100; // Linux USER_HZ, as /proc/<pid>/stat counts CPU time

/** Worker processes per scale figure (see the scale workload). */
const SCALE_PROBES = 3;

/**
 * Runs behind each bulk-add and drain figure, each on a fresh database: the
 * median is reported. One such run is half a second for us, and on a shared
 * machine the same code moves by a quarter from one minute to the next.
 */
const RATE_RUNS = quick ? 1 : 3;

async function main(): Promise<void> {
  const names = flags.only === undefined ? [...SYSTEM_NAMES] : flags.only.split(',');
  const results: Results = new Map();
  const skipped: string[] = [];
  // Workloads by the start of their name: `--workloads drain,scheduled`.
  const chosen = flags.workloads?.split(',');
  const unknown = chosen?.filter((word) => !WORKLOADS.some(([workload]) => workload.startsWith(word))) ?? [];
  if (unknown.length > 0) throw new Error(`--workloads: no workload starts with ${unknown.map((w) => `"${w}"`).join(', ')}; the workloads are ${WORKLOADS.map(([w]) => `"${w}"`).join(', ')}`);
  const systems: [string, BenchSystem][] = [];
  for (const name of names) {
    let system: BenchSystem;
    try {
      system = await loadSystem(name);
    } catch (error) {
      skipped.push(`${name}: cannot be loaded (${(error as Error).message})`);
      continue;
    }
    const reason = await system.unavailable();
    if (reason !== null) {
      skipped.push(`${system.name}: skipped, ${reason}`);
      log(`skip ${system.name}: ${reason}`);
      continue;
    }
    systems.push([name, system]);
  }
  // Machines of one kind differ several times over: each run says what raw SQLite does on the one it ran on.
  log('raw SQLite on this machine…');
  const ceiling = measureCeiling(quick ? 1 : 3);
  for (const [name, system] of systems) {
    const figures = new Map<string, number>();
    results.set(system.name, figures);
    concurrencyOf.set(system.name, system.concurrency);
    storeOf.set(system.name, system.store);
    for (const [workload, run] of WORKLOADS) {
      if (chosen !== undefined && !chosen.some((word) => workload.startsWith(word))) continue;
      log(`${system.name}: ${workload}…`);
      try {
        for (const [key, value] of Object.entries(await run(name, system))) figures.set(key, value);
      } catch (error) {
        log(`${system.name}: ${workload} failed: ${(error as Error).message}`);
      }
    }
  }
  const ours = systems.find(([name]) => name === 'ours')?.[1].name;
  const oursPg = systems.find(([name]) => name === 'ours-postgres')?.[1].name;
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify({ quick, sizes, ceiling, skipped, results: Object.fromEntries([...results].map(([k, v]) => [k, Object.fromEntries(v)])) }, null, 2)}\n`);
  } else {
    const table = renderTable(results, ours, oursPg);
    process.stdout.write(`${ceilingText(ceiling)}\n\n${table}\n${skipped.map((s) => `\n${s}`).join('')}\n`);
    if (!quick && flags.only === undefined && chosen === undefined) writeResults(table, skipped, ceiling);
  }
}

/** Each workload returns its figures, keyed as in METRICS. */
const WORKLOADS: [string, (name: string, system: BenchSystem) => Promise<Record<string, number>>][] = [
  ['add one at a time', async (name, system) => withContext(system, async (context) => {
    const { ms } = await child<{ ms: number }>(name, 'add-one', context, { n: sizes.addOne });
    return { addOne: sizes.addOne / (ms / 1000) };
  })],
  ['concurrent add', async (name, system) => withContext(system, async (context) => {
    const { ms } = await child<{ ms: number }>(name, 'add-concurrent', context, { n: sizes.addOne, callers: 100 });
    return { addConcurrent: sizes.addOne / (ms / 1000) };
  })],
  ['bulk add', async (name, system) => ({
    bulk: await medianOf(RATE_RUNS, () => withContext(system, async (context) => {
      const { ms } = await child<{ ms: number }>(name, 'add-bulk', context, { n: sizes.bulk });
      return sizes.bulk / (ms / 1000);
    })),
  })],
  ['drain', async (name, system) => ({
    drain: await medianOf(RATE_RUNS, () => withContext(system, async (context) => {
      await child(name, 'add-bulk', context, { n: sizes.drain });
      const { ms } = await child<{ ms: number }>(name, 'drain', context, { n: sizes.drain });
      return sizes.drain / (ms / 1000);
    })),
  })],
  ['latency', async (name, system) => withContext(system, async (context) => {
    const worker = startChild(name, 'latency-worker', context, { n: sizes.latency });
    await worker.ready;
    await child(name, 'latency-adder', context, { n: sizes.latency, intervalMs: 20 });
    const { samples } = await worker.result as { samples: number[] };
    return { latencyP50: percentile(samples, 50), latencyP99: percentile(samples, 99) };
  })],
  ['scheduled lateness', async (name, system) => withContext(system, async (context) => {
    const worker = startChild(name, 'lateness-worker', context, { n: sizes.lateness });
    await worker.ready;
    await child(name, 'lateness-adder', context, { n: sizes.lateness, leadMs: 1000, spacingMs: 5 });
    const { samples } = await worker.result as { samples: number[] };
    return { latenessP50: percentile(samples, 50), latenessP99: percentile(samples, 99), earliest: Math.min(...samples) };
  })],
  ['scale', async (name, system) => {
    // A probe is a fraction of a second, so each rate is the median of SCALE_PROBES worker processes, each
    // claiming the next scaleProbe jobs of a backlog kept at `waiting` (topped up between probes); RSS is the largest.
    const rate = async (waiting: number): Promise<{ rate: number; rssMb: number }> => withContext(system, async (context) => {
      await child(name, 'add-bulk', context, { n: waiting });
      const rates: number[] = [];
      let rssMb = 0;
      for (let probe = 0; probe < SCALE_PROBES; probe++) {
        if (probe > 0) await child(name, 'add-bulk', context, { n: sizes.scaleProbe });
        const result = await child<{ ms: number; rssMb: number }>(name, 'drain', context, { n: sizes.scaleProbe });
        rates.push(sizes.scaleProbe / (result.ms / 1000));
        rssMb = Math.max(rssMb, result.rssMb);
      }
      return { rate: percentile(rates, 50), rssMb };
    });
    const small = await rate(sizes.scaleSmall);
    const large = await rate(sizes.scaleLarge);
    return { claimSmall: small.rate, claimLarge: large.rate, rssLarge: large.rssMb };
  }],
  ['idle', async (name, system) => withContext(system, async (context) => {
    // The child counts its queries over two windows of idleMs + 2 s from when it is ready (the settling time and
    // the two CPU windows read here, with a second to spare so that it is still there for the last read).
    const queryWindowMs = sizes.idleMs + 2000;
    const worker = startChild(name, 'idle-worker', context, { n: 0, idleMs: queryWindowMs, windows: 2 });
    await worker.ready;
    await sleep(2000); // let start-up settle
    // Two windows one after the other: the first still holds the tail of start-up (a runtime's memory-reducing
    // collections a few seconds in), the second what a worker that has been idle a while costs.
    const windows: number[] = [cpuTicks(worker.pid)];
    for (let i = 0; i < 2; i++) {
      await sleep(sizes.idleMs);
      windows.push(cpuTicks(worker.pid));
    }
    const { queries } = await worker.result as { queries: number[] };
    const percent = (from: number, to: number): number => ((to - from) / CLOCK_TICKS / (sizes.idleMs / 1000)) * 100;
    const [start = 0, middle = 0, end = 0] = windows;
    const figures: Record<string, number> = { idleCpu: percent(start, middle), idleCpuLater: percent(middle, end) };
    if (system.store === 'PostgreSQL') figures.idleQueries = queries.reduce((a, b) => a + b, 0) / ((2 * queryWindowMs) / 1000);
    return figures;
  })],
];

async function withContext<T>(system: BenchSystem, run: (context: BenchContext) => Promise<T>): Promise<T> {
  const context: BenchContext = { dir: mkdtempSync(join(tmpdir(), 'bench-')), id: `b${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}` };
  try {
    // Opened once here first, so schema set-up never races between the adder and the worker.
    await (await system.open(context)).close();
    return await run(context);
  } finally {
    await system.cleanup?.(context);
    rmSync(context.dir, { recursive: true, force: true });
  }
}

interface Child {
  readonly pid: number;
  readonly ready: Promise<void>;
  readonly result: Promise<unknown>;
}

function startChild(system: string, role: string, context: BenchContext, args: Record<string, number>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bench/child.ts', system, role, JSON.stringify(context), JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buffer = '';
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => { onReady = resolve; });
  const result = new Promise<unknown>((resolve, reject) => {
    let last: unknown;
    proc.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffer.slice(0, newline)) as { ready?: boolean };
        buffer = buffer.slice(newline + 1);
        if (line.ready === true) onReady();
        else last = line;
      }
    });
    proc.on('exit', (code) => (code === 0 ? resolve(last) : reject(new Error(`${system} ${role} exited with ${code}`))));
  });
  // Awaited later (after sleeps, in the idle workload): a child that fails meanwhile must fail its workload, not the run.
  result.catch(() => {});
  return { pid: proc.pid ?? -1, ready, result };
}

async function child<T>(system: string, role: string, context: BenchContext, args: Record<string, number>): Promise<T> {
  return (await startChild(system, role, context, args).result) as T;
}

function cpuTicks(pid: number): number {
  // Fields after the command name: state is 3rd, utime 14th, stime 15th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function renderTable(results: Results, ours: string | undefined, oursPg: string | undefined): string {
  const systems = [...results.keys()];
  const peers = systems.filter((s) => s !== ours && s !== oursPg);
  const pgPeers = peers.filter((s) => storeOf.get(s) === 'PostgreSQL');
  // Each of our rows against the best of the peers it competes with: SQLite against all, PostgreSQL against PostgreSQL's.
  const comparisons = [
    ...(ours === undefined ? [] : [{ mine: ours, against: peers, header: 'ours vs best peer' }]),
    ...(oursPg === undefined ? [] : [{ mine: oursPg, against: pgPeers, header: 'ours (PostgreSQL) vs best PostgreSQL peer' }]),
  ];
  const header = ['figure', 'unit', ...systems.map((s) => `${s} (${concurrencyOf.get(s) ?? '?'})`), ...comparisons.map((c) => c.header)];
  const rows = METRICS.map((metric) => {
    const cells = systems.map((s) => results.get(s)?.get(metric.key));
    const ratios = comparisons.map(({ mine, against }) => {
      const peerValues = against.map((s) => results.get(s)?.get(metric.key)).filter((v): v is number => v !== undefined && Number.isFinite(v));
      const best = peerValues.length === 0 ? undefined : metric.higher ? Math.max(...peerValues) : Math.min(...peerValues);
      const value = results.get(mine)?.get(metric.key);
      return best === undefined || value === undefined || metric.noRatio === true ? '–' : ratioText(value, best, metric.higher);
    });
    return [metric.label, metric.unit, ...cells.map((v) => (v === undefined ? '–' : num(v))), ...ratios];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i < 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** "6.3× better" or "0.8× (worse)": how many times better ours is, whichever way "better" points. */
function ratioText(mine: number, best: number, higher: boolean): string {
  if (mine === best) return '1.0×';
  const factor = higher ? mine / best : best / mine;
  if (!Number.isFinite(factor) || factor <= 0) return '–';
  return factor >= 1 ? `${factor.toFixed(1)}× better` : `${(1 / factor).toFixed(1)}× worse`;
}

function num(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** The median of `runs` results of `run`, one after another. */
async function medianOf(runs: number, run: () => Promise<number>): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < runs; i++) values.push(await run());
  return percentile(values, 50);
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** The run's raw SQLite figures, as a line above the table. */
function ceilingText(ceiling: Ceiling): string {
  return `Raw SQLite on this machine (bench/sqlite-ceiling.ts): ${describeCeiling(ceiling).join('; ')}.`;
}

function writeResults(table: string, skipped: string[], ceiling: Ceiling): void {
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  const path = new URL('./RESULTS.md', import.meta.url);
  let previous = '';
  try {
    previous = readFileSync(path, 'utf8');
  } catch {
    // first run
  }
  const notes = previous.includes('<!-- notes -->') ? previous.slice(previous.indexOf('<!-- notes -->')) : '<!-- notes -->\n';
  writeFileSync(path, `# Benchmark results\n\nMachine: ${machine}. Date: ${new Date().toISOString().slice(0, 10)}.\nCommand: \`npm run bench\`.\n${ceilingText(ceiling)}\n\n${table}\n${skipped.map((s) => `\n${s}`).join('')}\n\n${notes}`);
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

await main();
