/**
 * The harness's side of a Procrastinate fault run, played in SQL as Python would play it, on the
 * run's own PostgreSQL: the schema, a feeder that defers jobs through
 * `procrastinate_defer_jobs_v1`, Python's stalled-job recipe, a sampler of the `doing` rows, and
 * the tables read at the end. Everything it does goes to the harness journal.
 *
 * The database is restarted and frozen under it: every query has a time limit, and a failed one
 * is tried again at the next turn of its loop.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { applySchema } from '../../../backends/procrastinate/schema.js';
import { deferMany } from '../../helpers/procrastinate.js';
import type { FinalJob, HarnessEvent } from './events.js';
import { monotonicNs, type JournalWriter } from './journal.js';
import { faultQueue, pickTask } from './procrastinate-tasks.js';
import type { Rng } from './rng.js';
import { repeat } from './repeat.js';

/** The SQL statements, read from the source tree (test code: the package itself reads nothing at run time). */
const sqlDir = new URL('../../../../test/faults/harness/sql/', import.meta.url);
const sql = (name: string) => readFileSync(new URL(name, sqlDir), 'utf8');
const statements = {
  stalledRetry: sql('stalled-retry.sql'),
  doingRows: sql('doing-rows.sql'),
  pendingCounts: sql('pending-counts.sql'),
  jobsFinal: sql('jobs-final.sql'),
};

/** The schema of the jobs in the run's database (the slots, when on PostgreSQL too, have `slots`). */
export const jobsSchema = 'jobs';

/** A URL of `databaseUrl` whose connections use the jobs' schema, as a Python app configured for it. */
export function jobsUrl(databaseUrl: string): string {
  return `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${jobsSchema}`)}`;
}

export class ProcrastinateJobs {
  private readonly pool: pg.Pool;

  constructor(
    databaseUrl: string,
    private readonly journal: JournalWriter<HarnessEvent>,
  ) {
    // Each query bounded: a frozen database must not hold the harness past its faults.
    this.pool = new pg.Pool({ connectionString: jobsUrl(databaseUrl), max: 4, connectionTimeoutMillis: 2000, query_timeout: 3000 });
    this.pool.on('error', () => {});
  }

  /** Creates the jobs' schema and Procrastinate's tables in it. */
  async setup(): Promise<void> {
    await this.pool.query(`CREATE SCHEMA IF NOT EXISTS ${jobsSchema}`);
    await applySchema(this.pool);
  }

  /** Keeps at least `backlog` jobs due in the queue, topping up every 100 ms, until stopped. */
  feed(rng: Rng, backlog: number): { stop(): Promise<void> } {
    return repeat(100, async () => {
      const { due } = await this.pending();
      if (due >= backlog) return;
      const tasks = Array.from({ length: backlog + backlog / 2 - due }, () => pickTask(rng.next()).name);
      const ids = await deferMany(
        this.pool,
        tasks.map((task) => ({ queue: faultQueue, task })),
      );
      this.journal.write({ ev: 'defer', jobs: ids.map((id, i) => ({ id, task: tasks[i]! })) });
    });
  }

  /**
   * Python's stalled-job recipe, every `everyMs`: the `doing` jobs whose worker has been silent
   * for `staleSeconds` (or is gone) are retried.
   */
  recoverStalled(everyMs: number, staleSeconds: number): { stop(): Promise<void> } {
    return repeat(everyMs, async () => {
      const { rows } = await this.pool.query<{ id: string; worker_id: string | null; attempts: number }>(statements.stalledRetry, [
        faultQueue,
        staleSeconds,
      ]);
      if (rows.length > 0)
        this.journal.write({ ev: 'recovered', jobs: rows.map((row) => ({ id: row.id, workerId: row.worker_id, attempts: row.attempts })) });
    });
  }

  /** Journals the `doing` rows of the queue every `everyMs`, from a connection of its own. */
  sampleDoing(everyMs: number): { stop(): Promise<void> } {
    return repeat(everyMs, async () => {
      const sentAt = monotonicNs();
      const { rows } = await this.pool.query<{ id: string; worker_id: string | null }>(statements.doingRows, [faultQueue]);
      this.journal.write({ ev: 'doing-sample', sentAt, rows: rows.map((row) => [row.id, row.worker_id]) });
    });
  }

  /** Jobs due now and jobs doing. */
  async pending(): Promise<{ due: number; doing: number }> {
    const { rows } = await this.pool.query<{ due: number; doing: number }>(statements.pendingCounts, [faultQueue]);
    return rows[0]!;
  }

  /** Waits until no job is due or doing, or `idleMs` passes without progress; true when drained. */
  async drain(idleMs: number): Promise<boolean> {
    let last = '';
    let progressAt = Date.now();
    for (;;) {
      const counts = await this.pending().catch(() => null);
      if (counts && counts.due === 0 && counts.doing === 0) return true;
      const now = JSON.stringify(counts);
      if (now !== last) {
        last = now;
        progressAt = Date.now();
      }
      if (Date.now() - progressAt > idleMs) return false;
      await sleep(200);
    }
  }

  /** Journals every job of the queue with its history (tried until the database answers, for up to 30 s). */
  async journalFinal(phase: 'drained' | 'closed'): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { rows } = await this.pool.query<{
          id: string;
          task_name: string;
          status: string;
          attempts: number;
          worker_id: string | null;
          scheduled_at: number | null;
          now_ms: number;
          events: string[];
        }>(statements.jobsFinal, [faultQueue]);
        const jobs: FinalJob[] = rows.map((row) => ({
          id: row.id,
          task: row.task_name,
          status: row.status,
          attempts: row.attempts,
          workerId: row.worker_id,
          scheduledAt: row.scheduled_at === null ? null : Number(row.scheduled_at),
          events: row.events,
        }));
        this.journal.write({ ev: 'jobs-final', phase, now: Number(rows[0]?.now_ms ?? Date.now()), jobs });
        return;
      } catch (error) {
        if (attempt === 30) throw error;
        await sleep(1000);
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
