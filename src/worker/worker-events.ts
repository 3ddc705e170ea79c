import type { Logger } from '../log/logger.ts';
import type { ClaimedJob, Completion, JobErrorInfo } from '../store/job-store.ts';

/** What each lifecycle event carries. */
export interface WorkerEventMap {
  /** A job was claimed and is about to run. */
  claimed: { readonly job: ClaimedJob };
  succeeded: { readonly job: ClaimedJob; readonly durationMs: number };
  /** The job failed for good (no attempts left, or a permanent error). */
  failed: { readonly job: ClaimedJob; readonly error: JobErrorInfo; readonly durationMs: number };
  /** The attempt failed; the job runs again at `retryAt`. */
  retrying: { readonly job: ClaimedJob; readonly error: JobErrorInfo; readonly retryAt: number; readonly durationMs: number };
  cancelled: { readonly job: ClaimedJob; readonly durationMs: number };
  /** Nothing is running and nothing is due. */
  idle: Record<string, never>;
}

export type WorkerEventName = keyof WorkerEventMap;

/**
 * Lifecycle events of the worker in this process (Gearman's worker
 * callbacks), for metrics and audits. Outcome events fire once the outcome is
 * recorded. A listener that throws is logged and never breaks the worker.
 */
export class WorkerEvents {
  readonly #listeners = new Map<WorkerEventName, Set<(payload: never) => void>>();
  #log: Logger | undefined;

  /** Subscribes; returns the unsubscribe function. */
  on<E extends WorkerEventName>(event: E, listener: (payload: WorkerEventMap[E]) => void): () => void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  /** Whether anyone listens: emitters skip building payloads otherwise. */
  has(event: WorkerEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  /** @internal Where listener errors are logged. */
  useLogger(log: Logger): void {
    this.#log = log;
  }

  /** @internal */
  emit<E extends WorkerEventName>(event: E, payload: WorkerEventMap[E]): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        (listener as (payload: WorkerEventMap[E]) => void)(payload);
      } catch (error) {
        this.#log?.error({ err: error, event }, 'a worker event listener threw; the worker goes on');
      }
    }
  }
}

/** A job whose outcome is known, with what its events need. */
export interface FinishedJob {
  /** The outcome to record; undefined for an attempt given back or lost (no event). */
  readonly completion: Completion | undefined;
  readonly job: ClaimedJob;
  /** How long the attempt ran, on a clock that does not step. */
  readonly durationMs: number;
}

/** Emits the outcome event of each recorded job (`notRecorded` ones were refused or gone). */
export function emitOutcomes(events: WorkerEvents, batch: readonly FinishedJob[], notRecorded: readonly number[]): void {
  if (!events.has('succeeded') && !events.has('failed') && !events.has('retrying') && !events.has('cancelled')) return;
  const skip = new Set(notRecorded);
  for (const { completion: c, job, durationMs } of batch) {
    if (c === undefined || skip.has(c.id)) continue;
    if (c.outcome === 'succeeded') events.emit('succeeded', { job, durationMs });
    else if (c.outcome === 'cancelled') events.emit('cancelled', { job, durationMs });
    else if (c.retryAt === null) events.emit('failed', { job, error: c.error, durationMs });
    else events.emit('retrying', { job, error: c.error, retryAt: c.retryAt, durationMs });
  }
}
