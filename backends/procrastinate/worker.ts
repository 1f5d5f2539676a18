/**
 * This process's row in `procrastinate_workers`: registered at start, kept fresh by a heartbeat,
 * re-registered if someone pruned it, deleted at shutdown. Python's stalled-job logic treats a
 * `doing` job whose worker row is missing or silent as abandoned and may run it again, so the row
 * must outlive every job we run.
 */
import type pg from 'pg';
import { errorFields, type Logger } from '../../src/core/logger.js';
import { workerAdoptJobs, workerHeartbeat, workerRegister, workerUnregister } from './sql.generated.js';

/** Options of {@link WorkerRegistration}. */
export interface WorkerRegistrationOptions {
  pool: pg.Pool;
  logger: Logger;
  heartbeatMs: number;
  /** Ids of the jobs running here, re-assigned to the new worker id after a re-registration. */
  runningJobIds(): string[];
}

/** Registers the worker, beats its heart, and recovers from a pruned row. */
export class WorkerRegistration {
  private currentId: string | null = null;
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  /** The re-registration under way: a heartbeat and a failed fetch may both ask for one. */
  private recovering: Promise<string> | undefined;
  private stopped = false;

  constructor(private readonly options: WorkerRegistrationOptions) {}

  /** The worker id (int8, as a string), or null before `register()` and after `unregister()`. */
  get id(): string | null {
    return this.currentId;
  }

  /** Inserts the worker row and starts the heartbeat. */
  async register(): Promise<string> {
    const { rows } = await this.options.pool.query<{ worker_id: string }>(workerRegister);
    this.currentId = rows[0]!.worker_id;
    this.options.logger.info('procrastinate worker registered', { workerId: this.currentId });
    // Unref'd: a heartbeat must never keep the process alive on its own.
    this.timer = setInterval(() => void this.beat(), this.options.heartbeatMs);
    this.timer.unref();
    return this.currentId;
  }

  /**
   * Our worker row is gone (pruned by a Python worker, or deleted by hand): registers a new one and
   * gives it our running jobs, whose worker_id the deletion set to NULL. Concurrent calls share one
   * re-registration. Resolves with the current id.
   */
  recover(reason: string): Promise<string> {
    this.recovering ??= (async () => {
      try {
        this.options.logger.error('procrastinate worker row is gone; registering again', { workerId: this.currentId, reason });
        const { rows } = await this.options.pool.query<{ worker_id: string }>(workerRegister);
        const previous = this.currentId;
        this.currentId = rows[0]!.worker_id;
        const running = this.options.runningJobIds();
        const adopted = running.length ? (await this.options.pool.query(workerAdoptJobs, [this.currentId, running])).rowCount : 0;
        this.options.logger.warn('procrastinate worker registered again', {
          workerId: this.currentId,
          previous,
          adopted,
          running: running.length,
        });
        return this.currentId;
      } finally {
        this.recovering = undefined;
      }
    })();
    return this.recovering;
  }

  /** Stops the heartbeat and deletes the row (nulling worker_id on every job that names it). */
  async unregister(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    const id = this.currentId;
    if (id === null) return;
    await this.recovering?.catch(() => {});
    await this.options.pool.query(workerUnregister, [this.currentId ?? id]);
    this.options.logger.info('procrastinate worker unregistered', { workerId: this.currentId ?? id });
    this.currentId = null;
  }

  /** Stops the heartbeat without touching the row (a failed open cleans up with it). */
  stopHeartbeat(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /** One heartbeat; a tick is skipped while the previous one is pending, and it never throws. */
  private async beat(): Promise<void> {
    if (this.beating || this.stopped || this.currentId === null) return;
    this.beating = true;
    try {
      // Bounded by the period: a beat stuck on a half-open connection would otherwise hold every
      // later tick back while the rest of the process runs jobs, until other workers take us for
      // dead. On timeout pg fails the query and the pool discards the connection.
      const beat: pg.QueryConfig & { query_timeout: number } = {
        text: workerHeartbeat,
        values: [this.currentId],
        query_timeout: this.options.heartbeatMs,
      };
      const { rowCount } = await this.options.pool.query(beat);
      if (rowCount === 0 && !this.stopped) await this.recover('heartbeat found no worker row');
    } catch (error) {
      // The database is unreachable: the next tick tries again. Silent too long, a Python worker
      // may prune us; the heartbeat after that re-registers.
      this.options.logger.warn('procrastinate worker heartbeat failed', { workerId: this.currentId, ...errorFields(error) });
    } finally {
      this.beating = false;
    }
  }
}
