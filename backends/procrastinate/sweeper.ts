/**
 * Recovering the jobs of workers that died: a job stays `doing` forever when its worker stops
 * without finishing it, and Procrastinate retries nothing by itself. The sweeper finds such jobs
 * (Procrastinate's own definition of stalled) and retries or fails each one, at most once however
 * many sweepers run at the same time.
 */
import type pg from 'pg';
import { ConfigError } from '../../src/core/errors.js';
import { isQueueingLockConflict } from './errors.js';
import { validateQueues } from './queues.js';
import { sweepCandidates, sweepFail, sweepLock, sweepRetry } from './sql.generated.js';

/** A stalled job, as `decide` sees it. */
export interface StalledJob {
  id: string;
  taskName: string;
  /** Finished tries before the one that stalled (the stalled run is not counted yet). */
  attempts: number;
  queue: string;
}

/**
 * What to do with a stalled job: retry it at `retryAt`, or `retryInSeconds` after the database's
 * clock (what a delay should use: the caller's clock may be off), or null to fail it.
 */
export type StalledJobDecision = { retryAt: Date } | { retryInSeconds: number } | null;

/** Options of {@link recoverStalledJobs}. */
export interface RecoverStalledJobsOptions {
  /** The queues to sweep: only ours, never a Python worker's (its own tooling recovers those). */
  queues: readonly string[];
  /** A worker whose heartbeat is older than this many seconds counts as dead. @defaultValue 30 */
  staleSeconds?: number;
  /**
   * Called once per job this call recovers, while the job's row is locked (keep it quick).
   * Not called for a job with `abort_requested`: it is failed, as Python's retry would.
   */
  decide: (job: StalledJob) => StalledJobDecision | Promise<StalledJobDecision>;
  /**
   * Job ids to leave alone: those the calling process runs right now (a job of ours can look
   * stalled for a moment after our worker row was pruned, until the heartbeat adopts it again).
   */
  exclude?: ReadonlySet<string>;
}

/** Why a stalled job was failed rather than retried. */
export type FailReason =
  /** `decide` returned null. */
  | 'decided'
  /** An abort had been requested: it is not run again (Python's retry_job would fail it too). */
  | 'abort_requested'
  /** `decide` asked for a retry, but a queued job holds its queueing lock (upstream #1446). */
  | 'already_enqueued';

/** What {@link recoverStalledJobs} did. */
export interface RecoverStalledJobsResult {
  /** Put back to `todo` (attempts + 1, events `deferred_for_retry` and `scheduled`). */
  retried: Array<StalledJob & { retryAt: Date }>;
  /** Ended `failed` (attempts + 1, event `failed`). */
  failed: Array<StalledJob & { reason: FailReason }>;
  /** Ids found stalled but recovered, finished or locked by someone else meanwhile: left alone. */
  skipped: string[];
  /** Jobs left as they were because `decide` or a write failed; the next sweep tries again. */
  errors: Array<{ id: string; error: unknown }>;
}

interface LockedRow {
  id: string;
  task_name: string;
  attempts: number;
  queue_name: string;
  abort_requested: boolean;
}

/** Procrastinate's `stalled_worker_timeout` and `get_stalled_jobs` default. */
const defaultStaleSeconds = 30;

/**
 * Finds the `doing` jobs of `queues` whose worker is gone (worker_id NULL) or silent for
 * `staleSeconds`, and retries (`procrastinate_retry_job_v2`) or fails
 * (`procrastinate_finish_job_v1(id, 'failed', false)`) each as `decide` says.
 *
 * At most once: each job is handled in its own transaction that locks the row with SKIP LOCKED
 * and checks again, on the row as it is now, that it is still stalled; a concurrent sweeper (or
 * a worker finishing it) has either changed the row or holds it, and this call skips it.
 *
 * Run it periodically (every `staleSeconds` or so). A job whose worker is merely slow to send
 * heartbeats is run twice; keep heartbeats well under `staleSeconds`.
 *
 * @param pool - a pool connected with the search_path of the Procrastinate schema
 * @throws ConfigError for bad options; errors of the first query (nothing changed). Failures on
 *   single jobs are returned in `errors`, not thrown.
 */
export async function recoverStalledJobs(pool: pg.Pool, options: RecoverStalledJobsOptions): Promise<RecoverStalledJobsResult> {
  const queues = validateQueues(options?.queues, 'recoverStalledJobs(options.queues)');
  const { staleSeconds = defaultStaleSeconds, decide } = options;
  if (typeof staleSeconds !== 'number' || !Number.isFinite(staleSeconds) || staleSeconds <= 0) {
    throw new ConfigError('recoverStalledJobs(options.staleSeconds)', staleSeconds, 'expected a number of seconds > 0');
  }
  if (typeof decide !== 'function') {
    throw new ConfigError(
      'recoverStalledJobs(options.decide)',
      decide,
      'expected a function (job) => { retryAt: Date } | { retryInSeconds: number } | null',
    );
  }

  const result: RecoverStalledJobsResult = { retried: [], failed: [], skipped: [], errors: [] };
  const candidates = await pool.query<{ id: string }>(sweepCandidates, [queues, staleSeconds]);
  // One job at a time: each transaction holds one row lock for as long as decide takes.
  for (const { id } of candidates.rows) {
    if (options.exclude?.has(id)) continue;
    try {
      await recoverOne(pool, id, queues, staleSeconds, decide, result);
    } catch (error) {
      result.errors.push({ id, error });
    }
  }
  return result;
}

/** Locks, checks, decides and writes one job in one transaction, recording the outcome. */
async function recoverOne(
  pool: pg.Pool,
  id: string,
  queues: string[],
  staleSeconds: number,
  decide: RecoverStalledJobsOptions['decide'],
  result: RecoverStalledJobsResult,
): Promise<void> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    try {
      const row = (await client.query<LockedRow>(sweepLock, [id, queues, staleSeconds])).rows[0];
      if (row === undefined) {
        result.skipped.push(id);
      } else {
        const job: StalledJob = { id: row.id, taskName: row.task_name, attempts: row.attempts, queue: row.queue_name };
        const outcome = row.abort_requested ? null : await checkedDecision(decide, job);
        if (row.abort_requested) {
          await client.query(sweepFail, [id]);
          result.failed.push({ ...job, reason: 'abort_requested' });
        } else if (outcome === null) {
          await client.query(sweepFail, [id]);
          result.failed.push({ ...job, reason: 'decided' });
        } else {
          const retryAt = await retryOrConflict(client, id, outcome);
          if (retryAt === null) {
            await client.query(sweepFail, [id]);
            result.failed.push({ ...job, reason: 'already_enqueued' });
          } else {
            result.retried.push({ ...job, retryAt });
          }
        }
      }
      await client.query('COMMIT');
    } catch (error) {
      // The lock goes with the rollback: the job stays stalled for the next sweep.
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    }
  } finally {
    // A connection that cannot roll back is destroyed rather than returned mid-transaction.
    client.release(broken);
  }
}

/**
 * Retries the job; returns when it is due, or null when a queued job holds its queueing lock
 * (#1446). The savepoint keeps the transaction, and the row lock, usable so that the job can be
 * failed instead.
 */
async function retryOrConflict(client: pg.PoolClient, id: string, decision: Exclude<StalledJobDecision, null>): Promise<Date | null> {
  const [at, inSeconds] = 'retryAt' in decision ? [decision.retryAt, null] : [null, decision.retryInSeconds];
  await client.query('SAVEPOINT sweep_retry');
  try {
    return (await client.query<{ retry_at: Date }>(sweepRetry, [id, at, inSeconds])).rows[0]!.retry_at;
  } catch (error) {
    if (!isQueueingLockConflict(error)) throw error;
    await client.query('ROLLBACK TO SAVEPOINT sweep_retry');
    return null;
  }
}

/** Calls decide and checks its answer. @throws ConfigError for an answer of the wrong shape */
async function checkedDecision(decide: RecoverStalledJobsOptions['decide'], job: StalledJob): Promise<StalledJobDecision> {
  const outcome = await decide({ ...job });
  if (outcome === null) return null;
  const { retryAt, retryInSeconds } = (outcome ?? {}) as { retryAt?: unknown; retryInSeconds?: unknown };
  if (retryAt instanceof Date && !Number.isNaN(retryAt.getTime()) && retryInSeconds === undefined) return { retryAt };
  if (typeof retryInSeconds === 'number' && Number.isFinite(retryInSeconds) && retryInSeconds >= 0 && retryAt === undefined)
    return { retryInSeconds };
  throw new ConfigError(
    'recoverStalledJobs(options.decide) result',
    outcome,
    'expected { retryAt: Date } or { retryInSeconds: number >= 0 } to retry, or null to fail the job',
  );
}
