/**
 * The job statements of the Procrastinate backend: claiming through `procrastinate_fetch_job_v2`,
 * and ending or retrying through the ownership guard, each in one statement (sql/job-*.sql).
 * The statements of every job's path (fetch, finish) are prepared: PostgreSQL then parses and
 * plans each once per connection instead of at every call, which measured +40 % on a drain.
 */
import type pg from 'pg';
import { BatchQueue } from '../../src/batch-queue.js';
import { jobAbortRequests, jobFetch, jobFetchBatch, jobFinishGuarded, jobHandBack, jobRetryGuarded } from './sql.generated.js';

/** A claimed job, as fetch returns it (named columns; int8 ids as strings). */
export interface FetchedJob {
  id: string;
  task_name: string;
  priority: number;
  lock: string | null;
  queueing_lock: string | null;
  args: Record<string, unknown>;
  scheduled_at: Date | null;
  queue_name: string;
  /** Finished tries before this run; with the id it fences every write of this run. */
  attempts: number;
  worker_id: string | null;
}

/** The row fetch returns: all NULL when nothing was claimed. */
type FetchRow = { [K in keyof FetchedJob]: FetchedJob[K] | null } & { status: string | null };

/** The end states a run writes through `procrastinate_finish_job_v1`. */
export type EndStatus = 'succeeded' | 'failed' | 'aborted';

/** One job's finish, as the batched statement takes it. */
interface FinishRow {
  id: string;
  workerId: string;
  attempts: number;
  status: EndStatus;
  deleteJob: boolean;
}

/** What a guarded retry did. */
export type RetryResult =
  /** Back to `todo`, due after the delay. */
  | 'retried'
  /** The job had an abort request: `retry_job_v2` failed it instead, as Python expects. */
  | 'failed_flagged'
  /** No longer ours (finished, requeued or re-claimed elsewhere): left alone. */
  | 'not_ours';

/** What a hand-back did. */
export type HandBackResult =
  /** Back to `todo`, attempts unchanged, due after the delay. */
  | 'requeued'
  /** Its abort was requested since the claim: finished `aborted` instead. */
  | 'aborted'
  /** No longer ours: left alone. */
  | 'not_ours';

/** Runs the job statements on a pool; `workerId` is read at each write, as it changes on re-registration. */
export class JobStore {
  /**
   * Finishes that arrive while one is being written go together in the next statement: under
   * load, one round trip and one commit per batch instead of per job. At most 100 jobs per
   * statement, which bounds how long it holds their row locks.
   */
  private readonly finishes = new BatchQueue<FinishRow, boolean>(async (rows) => {
    // Not beside a claim: the two would contend for the same rows, indexes and WAL flush, and the
    // claim is what the next handlers wait for. The finish goes as soon as the claim returns.
    await this.claiming;
    return this.finishMany(rows);
  }, 100);
  /** The claim under way (settled, never rejects), if any. */
  private claiming: Promise<unknown> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly queues: readonly string[],
    /** False sends every statement unnamed (for poolers that cannot keep prepared statements). */
    private readonly prepared = true,
  ) {}

  /** Claims one job for the worker, or null when none is due. */
  async fetch(workerId: string): Promise<FetchedJob | null> {
    const { rows } = await this.pool.query<FetchRow>(this.statement('task_semaphore_job_fetch', jobFetch, [this.queues, workerId]));
    const row = rows[0];
    return row && row.id !== null ? toJob(row) : null;
  }

  /** Claims up to `max` jobs in one round trip (sql/job-fetch-batch.sql explains why it is safe). */
  async fetchBatch(workerId: string, max: number): Promise<FetchedJob[]> {
    const query = this.pool.query<FetchRow>(this.statement('task_semaphore_job_fetch_batch', jobFetchBatch, [this.queues, workerId, max]));
    const claiming = query.then(
      () => {},
      () => {},
    );
    this.claiming = claiming;
    void claiming.then(() => {
      if (this.claiming === claiming) this.claiming = undefined;
    });
    const { rows } = await query;
    return rows.map(toJob);
  }

  /**
   * Ends the run as `status` if the job is still ours; false when it was left alone. An error in
   * another job's finish of the same batch never fails this one.
   */
  finish(job: FetchedJob, workerId: string, status: EndStatus, deleteJob: boolean): Promise<boolean> {
    return this.finishes.push({ id: job.id, workerId, attempts: job.attempts, status, deleteJob });
  }

  /**
   * Requeues the run's job after `delaySeconds` (database clock) if it is still ours.
   * @throws the PostgreSQL 23505 error when another queued job holds its queueing lock (#1446)
   */
  async retry(job: FetchedJob, workerId: string, delaySeconds: number): Promise<RetryResult> {
    const { rows } = await this.pool.query<{ flagged: boolean }>(jobRetryGuarded, [job.id, workerId, job.attempts, delaySeconds]);
    const row = rows[0];
    if (!row) return 'not_ours';
    return row.flagged ? 'failed_flagged' : 'retried';
  }

  /**
   * Puts a claimed job that never started back in the queue, due after `delaySeconds`, without
   * counting an attempt, if it is still ours (sql/job-hand-back.sql).
   * @throws the PostgreSQL 23505 error when another queued job holds its queueing lock (#1446)
   */
  async handBack(job: FetchedJob, workerId: string, delaySeconds: number): Promise<HandBackResult> {
    const { rows } = await this.pool.query<{ outcome: 'requeued' | 'aborted' }>(jobHandBack, [job.id, workerId, job.attempts, delaySeconds]);
    return rows[0]?.outcome ?? 'not_ours';
  }

  /** One statement for the batch; a job missing from its result is no longer ours. */
  private async finishMany(rows: readonly FinishRow[]): Promise<boolean[]> {
    const values = [rows.map((r) => r.id), rows.map((r) => r.workerId), rows.map((r) => r.attempts), rows.map((r) => r.status), rows.map((r) => r.deleteJob)];
    const result = await this.pool.query<{ id: string }>(this.statement('task_semaphore_job_finish', jobFinishGuarded, values));
    const finished = new Set(result.rows.map((row) => row.id));
    return rows.map((row) => finished.has(row.id));
  }

  /** A named statement (pg prepares it once per connection) unless prepared statements are off. */
  private statement(name: string, text: string, values: unknown[]): pg.QueryConfig {
    return this.prepared ? { name, text, values } : { text, values };
  }

  /** Which of these running jobs have an abort request. */
  async abortRequested(jobIds: readonly string[]): Promise<string[]> {
    if (jobIds.length === 0) return [];
    const { rows } = await this.pool.query<{ id: string }>(jobAbortRequests, [jobIds]);
    return rows.map((row) => row.id);
  }
}

function toJob(row: FetchRow): FetchedJob {
  return {
    id: row.id!,
    task_name: row.task_name!,
    priority: row.priority!,
    lock: row.lock,
    queueing_lock: row.queueing_lock,
    args: row.args ?? {},
    scheduled_at: row.scheduled_at,
    queue_name: row.queue_name!,
    attempts: row.attempts!,
    worker_id: row.worker_id,
  };
}
