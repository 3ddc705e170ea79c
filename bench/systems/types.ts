/**
 * What the benchmark needs from a job system. Each system (this project and
 * each peer) implements it with its own public API, as a user would.
 */

/** Names one fresh queue, shared by the processes of one workload. */
export interface BenchContext {
  /** An empty temporary folder (SQLite systems put their database here). */
  readonly dir: string;
  /** A unique id (server-backed systems name their queue or schema after it). */
  readonly id: string;
}

/** A small JSON payload: what a no-op job carries. */
export type Payload = Record<string, number | string>;

/** One open queue in one process. */
export interface BenchQueue {
  /** Adds one job, due now or at `runAt`. */
  add(payload: Payload, runAt?: Date): Promise<void>;
  /** Adds many jobs with the system's bulk API (one transaction or round trip where it has one). */
  addBulk(payloads: readonly Payload[]): Promise<void>;
  /** Starts a worker in this process that calls `handler` for each job; resolves once it is running. */
  work(handler: (payload: Payload) => void, concurrency: number): Promise<void>;
  /** Stops the worker, if any, and closes connections. */
  close(): Promise<void>;
}

export interface BenchSystem {
  /** As shown in the results table, e.g. `plainjob 0.0.14`. */
  readonly name: string;
  /** `SQLite`, `Redis` or `PostgreSQL`. */
  readonly store: string;
  /** Worker concurrency used in every workload. */
  readonly concurrency: number;
  /** Null when usable; otherwise why this system is skipped (e.g. its server is not reachable). */
  unavailable(): Promise<string | null>;
  /** Opens the queue named by `context` (creating it when new). */
  open(context: BenchContext): Promise<BenchQueue>;
  /** Removes what `context` left on a server (queues, schemas); files in `dir` are removed by the harness. */
  cleanup?(context: BenchContext): Promise<void>;
}
