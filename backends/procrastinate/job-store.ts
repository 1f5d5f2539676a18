/**
 * The job statements of the Procrastinate backend: claiming through `procrastinate_fetch_job_v2`,
 * and ending, retrying or handing back through the ownership guard (sql/job-*.sql).
 *
 * The bound, as Procrastinate's table shows it: a job's row must stop being `doing` before the
 * job that refills its slot is claimed, or a sampled `count(*) … WHERE status = 'doing'` would see
 * up to twice the slots. So finishes wait for the next claim and go in its statement, finish
 * first (sql/job-finish-and-claim.sql: one round trip, one commit), and a claim waits for every
 * job write already sent. Finishes that no claim takes in the same turn of the event loop (the
 * slot was not refilled here) go alone, at once after it.
 *
 * The statements of every job's path are prepared: PostgreSQL then parses and plans each once per
 * connection instead of at every call, which measured +40 % on a drain.
 */
import type pg from 'pg';
import { argsTypes } from './job-args-reader.js';
import { jobAbortRequests, jobFinishAndClaim, jobHandBack, jobRetryGuarded } from './sql.generated.js';

/** A claimed job, as fetch returns it (named columns; int8 ids as strings). */
export interface FetchedJob {
  id: string;
  task_name: string;
  priority: number;
  lock: string | null;
  queueing_lock: string | null;
  /** A JSON object unless something other than Procrastinate deferred the job; UnreadableArgs when JavaScript cannot hold them. */
  args: unknown;
  scheduled_at: Date | null;
  queue_name: string;
  /** Finished tries before this run; with the id it fences every write of this run. */
  attempts: number;
  worker_id: string | null;
}

/** A row of sql/job-finish-and-claim.sql: a finished job (finished_id) or a claimed one. */
type StatementRow = { [K in keyof FetchedJob]: FetchedJob[K] | null } & { finished_id: string | null; status: string | null };

/** The end states a run writes through `procrastinate_finish_job_v1`. */
export type EndStatus = 'succeeded' | 'failed' | 'aborted';

/** One job's finish, waiting for a statement. */
interface PendingFinish {
  id: string;
  workerId: string;
  attempts: number;
  status: EndStatus;
  deleteJob: boolean;
  resolve(written: boolean): void;
  reject(error: unknown): void;
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

/** Most finishes in one statement, which bounds how long it holds their row locks. */
const maxFinishesPerStatement = 100;

/** Runs the job statements on a pool; `workerId` is read at each write, as it changes on re-registration. */
export class JobStore {
  /** Finishes not sent yet: the next claim takes them, or they go alone after this turn. */
  private pending: PendingFinish[] = [];
  private aloneQueued = false;
  /** Job writes sent and not answered yet, claims that carry finishes among them (settled, never rejecting): a claim goes after them. */
  private readonly writesInFlight = new Set<Promise<void>>();
  /** How claimed rows are read: args with integers a JavaScript number would change come back unreadable. */
  private readonly argsTypes = argsTypes();

  constructor(
    private readonly pool: pg.Pool,
    private readonly queues: readonly string[],
    /** False sends every statement unnamed (for poolers that cannot keep prepared statements). */
    private readonly prepared = true,
  ) {}

  /** Claims one job for the worker, or null when none is due (with the finishes queued, as fetchBatch). */
  async fetch(workerId: string): Promise<FetchedJob | null> {
    return (await this.fetchBatch(workerId, 1))[0] ?? null;
  }

  /**
   * Claims up to `max` jobs in one round trip, after the job writes already sent, and in the same
   * statement as the finishes queued (which run first).
   */
  async fetchBatch(workerId: string, max: number): Promise<FetchedJob[]> {
    // Taken now: the finishes of the jobs whose slots this claim refills must not go alone meanwhile.
    const finishes = this.pending.splice(0, maxFinishesPerStatement);
    // Only the writes sent so far: waiting for later ones too could starve the claim under load.
    const earlier = [...this.writesInFlight];
    const statement = (async () => {
      if (earlier.length > 0) await Promise.all(earlier);
      return this.run(finishes, workerId, max);
    })();
    // A claim that carries finishes is a job write too, from now on (while it waits as well): a
    // claim made meanwhile (another refill round's) goes after it, so a slot's next job is never
    // claimed before its last one is finished.
    if (finishes.length > 0) void this.track(statement);
    let rows: StatementRow[];
    try {
      rows = await statement;
    } catch (error) {
      // Nothing was written. The finishes go alone (each alone if need be), so that one at fault
      // cannot fail every claim; the next claim waits for them.
      if (finishes.length > 0) void this.track(this.sendAlone(finishes));
      throw error;
    }
    settle(finishes, rows);
    return rows.filter((row) => row.finished_id === null).map(toJob);
  }

  /**
   * Ends the run as `status` if the job is still ours; false when it was left alone. Queued for
   * the next claim, or sent alone right after this turn of the event loop. An error in another
   * job's finish of the same statement never fails this one.
   */
  finish(job: FetchedJob, workerId: string, status: EndStatus, deleteJob: boolean): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({ id: job.id, workerId, attempts: job.attempts, status, deleteJob, resolve, reject });
      if (this.aloneQueued) return;
      this.aloneQueued = true;
      // setImmediate runs after the promise callbacks and nextTicks of this turn, where a stop
      // keeps the slot and the scheduler polls for it: a claim made there takes the finish along.
      setImmediate(() => {
        this.aloneQueued = false;
        while (this.pending.length > 0) void this.track(this.sendAlone(this.pending.splice(0, maxFinishesPerStatement)));
      });
    });
  }

  /**
   * Requeues the run's job after `delaySeconds` (database clock) if it is still ours.
   * @throws the PostgreSQL 23505 error when another queued job holds its queueing lock (#1446)
   */
  async retry(job: FetchedJob, workerId: string, delaySeconds: number): Promise<RetryResult> {
    // Tracked before the first await, so a claim asked for in the same turn goes after it.
    const { rows } = await this.track(
      this.pool.query<{ flagged: boolean }>(jobRetryGuarded, [job.id, workerId, job.attempts, delaySeconds]),
    );
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
    const { rows } = await this.track(
      this.pool.query<{ outcome: 'requeued' | 'aborted' }>(jobHandBack, [job.id, workerId, job.attempts, delaySeconds]),
    );
    return rows[0]?.outcome ?? 'not_ours';
  }

  /** Which of these running jobs have an abort request. */
  async abortRequested(jobIds: readonly string[]): Promise<string[]> {
    if (jobIds.length === 0) return [];
    const { rows } = await this.pool.query<{ id: string }>(jobAbortRequests, [jobIds]);
    return rows.map((row) => row.id);
  }

  /** Finishes with no claim; on an error, each again alone, so that only the one at fault fails. */
  private async sendAlone(finishes: PendingFinish[]): Promise<void> {
    try {
      settle(finishes, await this.run(finishes, finishes[0]!.workerId, 0));
    } catch (error) {
      if (finishes.length === 1) return finishes[0]!.reject(error);
      await Promise.all(finishes.map((finish) => this.sendAlone([finish])));
    }
  }

  /** One sql/job-finish-and-claim.sql statement. */
  private async run(finishes: readonly PendingFinish[], workerId: string, max: number): Promise<StatementRow[]> {
    const values = [
      finishes.map((f) => f.id),
      finishes.map((f) => f.workerId),
      finishes.map((f) => f.attempts),
      finishes.map((f) => f.status),
      finishes.map((f) => f.deleteJob),
      this.queues,
      workerId,
      max,
    ];
    const name = 'task_semaphore_job_finish_and_claim';
    const query = { text: jobFinishAndClaim, values, types: this.argsTypes };
    const { rows } = await this.pool.query<StatementRow>(this.prepared ? { name, ...query } : query);
    return rows;
  }

  /** Counts a job write as in flight until it is answered; returns it unchanged. */
  private track<T>(write: Promise<T>): Promise<T> {
    const settled = write.then(
      () => {},
      () => {},
    );
    this.writesInFlight.add(settled);
    void settled.then(() => this.writesInFlight.delete(settled));
    return write;
  }
}

/** Resolves each finish with whether the statement finished it (a job left out is no longer ours). */
function settle(finishes: readonly PendingFinish[], rows: readonly StatementRow[]): void {
  if (finishes.length === 0) return;
  const finished = new Set(rows.map((row) => row.finished_id));
  for (const finish of finishes) finish.resolve(finished.has(finish.id));
}

function toJob(row: StatementRow): FetchedJob {
  return {
    id: row.id!,
    task_name: row.task_name!,
    priority: row.priority!,
    lock: row.lock,
    queueing_lock: row.queueing_lock,
    // Not defaulted: JSON null args fail the job, as in Python (the column is NOT NULL).
    args: row.args!,
    scheduled_at: row.scheduled_at,
    queue_name: row.queue_name!,
    attempts: row.attempts!,
    worker_id: row.worker_id,
  };
}
