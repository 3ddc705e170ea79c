import { SchedulerError } from '../errors.ts';
import { setLongTimeout, type LongTimeout } from '../schedule/long-timer.ts';
import type { JobRecord } from '../store/job-store.ts';
import type { JobHandle } from '../worker/job-handle.ts';
import { ResultTimeoutError } from '../worker/job-handle.ts';
import type { WorkerService } from '../worker/worker-service.ts';
import type { Output } from './jobs-command.ts';

/** How long a due job may go unclaimed before `jobs add --wait` says so. */
export const UNCLAIMED_NOTICE_MS = 5000;

/** How `jobs add --wait` waits. */
export interface WaitOptions {
  /** Where the jobs are (the resolved `worker.dbpath`), for messages. */
  readonly database: string;
  /** `--wait-timeout`: give up waiting after this many seconds; the job stays. @default no limit */
  readonly timeoutSeconds?: number | undefined;
  /** How long a due job may stay unclaimed before the notice on stderr. @default {@link UNCLAIMED_NOTICE_MS} */
  readonly noticeAfterMs?: number | undefined;
}

/**
 * Waits for a job's result, as `jobs add --wait` does. Without a worker on
 * the database a job waits forever, and a person at the terminal cannot tell
 * that from a slow job: once the job has been due for
 * {@link WaitOptions.noticeAfterMs} without being claimed, one line on stderr
 * says so and whether any worker is running jobs there; the wait goes on.
 * @throws SchedulerError `ERR_RESULT_TIMEOUT` after `--wait-timeout`, saying where the job is.
 */
export async function waitForJob(worker: WorkerService, handle: JobHandle, options: WaitOptions, output: Output): Promise<unknown> {
  const notice = new UnclaimedNotice(worker, handle.id, options, output);
  try {
    return await handle.result(options.timeoutSeconds === undefined ? {} : { timeout: options.timeoutSeconds });
  } catch (error) {
    if (!(error instanceof ResultTimeoutError)) throw error;
    const job = await worker.store.getJob(handle.id);
    const where = job === undefined ? 'it is gone from the database' : `${await whereIs(worker, job, options.database)}; it stays in the database (jobs cancel ${handle.id} drops it)`;
    throw new SchedulerError('ERR_RESULT_TIMEOUT', `job ${handle.id} did not finish within ${options.timeoutSeconds} s (--wait-timeout): ${where}`, { cause: error });
  } finally {
    await notice.stop();
  }
}

/** The one notice about a job nobody claims, armed for when it has been due long enough. */
class UnclaimedNotice {
  readonly #worker: WorkerService;
  readonly #id: number;
  readonly #options: WaitOptions;
  readonly #output: Output;
  readonly #afterMs: number;
  #timer: LongTimeout | undefined;
  #look: Promise<void> | undefined;
  #stopped = false;

  constructor(worker: WorkerService, id: number, options: WaitOptions, output: Output) {
    this.#worker = worker;
    this.#id = id;
    this.#options = options;
    this.#output = output;
    this.#afterMs = options.noticeAfterMs ?? UNCLAIMED_NOTICE_MS;
    this.#arm(this.#afterMs);
  }

  /** Ends it; resolves once a look in progress is over, so the store may be closed. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.clear();
    await this.#look;
  }

  #arm(ms: number): void {
    this.#timer = setLongTimeout(() => {
      this.#look = this.#check();
    }, ms);
  }

  async #check(): Promise<void> {
    try {
      const job = await this.#worker.store.getJob(this.#id);
      if (this.#stopped || job === undefined || !unclaimed(job)) return;
      // Added with --at (or an existing job's key): it is not late until it has been due for a while.
      const lateIn = job.runAt + this.#afterMs - Date.now();
      if (lateIn > 0) {
        this.#arm(lateIn);
        return;
      }
      const where = await whereIs(this.#worker, job, this.#options.database);
      if (!this.#stopped) this.#output.err(`job ${this.#id} has been due for ${this.#afterMs / 1000} s and ${where}; still waiting (Ctrl-C stops waiting; the job stays)`);
    } catch (error) {
      // The wait itself reports a store that fails; this look only says so if the wait goes on.
      if (!this.#stopped) this.#output.err(`could not look whether a worker has claimed job ${this.#id}: ${(error as Error).message}`);
    }
  }
}

function unclaimed(job: JobRecord): boolean {
  return job.state === 'waiting' && job.attempts === 0;
}

/** Where a job that has not finished is, in words, and for one nobody claimed whether any worker runs jobs on the database. */
async function whereIs(worker: WorkerService, job: JobRecord, database: string): Promise<string> {
  if (job.state === 'running') return 'it is still running';
  if (job.state !== 'waiting') return `it is ${job.state}`;
  if (!unclaimed(job)) return `it is waiting for attempt ${job.attempts + 1} of ${job.maxAttempts}`;
  // Workers holding running jobs: an idle worker would have claimed this one by now.
  const busy = (await worker.store.ownerBeats()).length;
  return busy === 0
    ? `no worker has claimed it: no worker is running jobs on ${database} (is a worker, --worker, running with this worker.dbpath?)`
    : `no worker has claimed it yet: the ${busy === 1 ? 'worker' : `${busy} workers`} running jobs on ${database} ${busy === 1 ? 'is' : 'are'} busy with others`;
}
