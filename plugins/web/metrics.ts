import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { JOB_STATES } from '../../src/store/job-store.ts';
import type { Snapshot, SnapshotDelta } from './snapshot-poller.ts';

/** Buckets in seconds for run and wait times: a millisecond to an hour. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

/**
 * The Prometheus metrics of one server, in a registry of its own (two
 * servers in one process, as in tests, do not share counters). Labels are
 * bounded: service, method, state. Counters count what the shared poller saw
 * finish since this process started; gauges are the poller's snapshot, so a
 * scrape reads the database at most once per refresh interval.
 */
export class SchedulerMetrics {
  readonly registry = new Registry();
  readonly #added: Counter;
  readonly #finished: Counter<'service' | 'method' | 'state'>;
  readonly #failures: Counter<'service' | 'method'>;
  readonly #run: Histogram<'service' | 'method'>;
  readonly #wait: Histogram<'service' | 'method'>;
  readonly #jobs: Gauge<'state'>;
  readonly #oldest: Gauge;
  readonly #busy: Gauge;
  readonly #idle: Gauge;
  readonly #workers: Gauge;
  readonly #lag: Gauge;

  constructor(version: string, concurrency: number) {
    const registers = [this.registry];
    this.#added = new Counter({ name: 'scheduler_jobs_added_total', help: 'Jobs added (by any process) since this server started.', registers });
    this.#finished = new Counter({ name: 'scheduler_jobs_finished_total', help: 'Jobs that finished, by outcome.', labelNames: ['service', 'method', 'state'], registers });
    this.#failures = new Counter({ name: 'scheduler_attempt_failures_total', help: 'Failed or lost attempts (retried or not).', labelNames: ['service', 'method'], registers });
    this.#run = new Histogram({ name: 'scheduler_job_run_duration_seconds', help: 'Start to finish of the last attempt of finished jobs.', labelNames: ['service', 'method'], buckets: DURATION_BUCKETS, registers });
    this.#wait = new Histogram({ name: 'scheduler_job_wait_duration_seconds', help: 'Due (run time, or adding if later) to start of finished jobs.', labelNames: ['service', 'method'], buckets: DURATION_BUCKETS, registers });
    this.#jobs = new Gauge({ name: 'scheduler_jobs', help: 'Jobs in the database by state.', labelNames: ['state'], registers });
    this.#oldest = new Gauge({ name: 'scheduler_oldest_waiting_age_seconds', help: 'How long the most overdue waiting job has been due.', registers });
    this.#busy = new Gauge({ name: 'scheduler_worker_slots_busy', help: 'Jobs running on live workers.', registers });
    this.#idle = new Gauge({ name: 'scheduler_worker_slots_idle', help: 'Free slots of workers holding jobs (worker.concurrency each, as configured for this app).', registers });
    this.#workers = new Gauge({ name: 'scheduler_workers', help: 'Workers holding jobs.', registers });
    this.#lag = new Gauge({ name: 'scheduler_recurring_lag_seconds', help: 'How far the most overdue recurring job is behind its next run.', registers });
    const info = new Gauge({ name: 'scheduler_build_info', help: 'The scheduler version serving these metrics.', labelNames: ['version'], registers });
    info.set({ version }, 1);
    this.concurrency = concurrency;
  }

  readonly concurrency: number;

  /** What the poller saw happen since its last read. */
  observe(delta: SnapshotDelta): void {
    this.#added.inc(delta.added);
    for (const job of delta.finished) {
      const labels = { service: job.service, method: job.method };
      this.#finished.inc({ ...labels, state: job.state });
      if (job.startedAt !== null) {
        this.#run.observe(labels, Math.max(0, job.finishedAt - job.startedAt) / 1000);
        this.#wait.observe(labels, Math.max(0, job.startedAt - Math.max(job.runAt, job.createdAt)) / 1000);
      }
    }
    for (const failure of delta.failures) this.#failures.inc({ service: failure.service, method: failure.method });
  }

  /** Sets the gauges from a snapshot, before a scrape. */
  update(snapshot: Snapshot): void {
    for (const state of JOB_STATES) this.#jobs.set({ state }, snapshot.counts[state]);
    this.#oldest.set(snapshot.oldestWaitingMs / 1000);
    const busy = snapshot.workers.reduce((sum, w) => sum + w.running, 0);
    this.#busy.set(busy);
    this.#idle.set(Math.max(0, snapshot.workers.length * this.concurrency - busy));
    this.#workers.set(snapshot.workers.length);
    this.#lag.set(Math.max(0, snapshot.recurringLagMs) / 1000);
  }
}
