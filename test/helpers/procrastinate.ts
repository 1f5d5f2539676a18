/**
 * Procrastinate test helpers: a fresh schema per test holding the Procrastinate schema, the
 * statements Procrastinate clients send (the shapes of the spec, with explicit casts because
 * `pg` sends text), and a LISTEN client that collects notifications.
 */
import type { ExecutionContext } from 'ava';
import pg from 'pg';
import { applySchema } from '../../backends/procrastinate/schema.js';
import { connectPostgres, databaseUrl, freshSchema } from './services.js';

/** A pool whose search_path is a schema of its own, like a Python app configured for it. */
export interface ProcrastinateDb {
  pool: pg.Pool;
  schema: string;
}

/**
 * The tests of a file run at once, each with its pool, LISTEN connection and stores: at most this
 * many of them hold the database at a time, so that two files running side by side stay well
 * under PostgreSQL's default max_connections (100).
 */
const maxTestsOnTheDatabase = 6;
let freePermits = maxTestsOnTheDatabase;
const waitingForPermit: Array<() => void> = [];
const testsHoldingPermit = new WeakSet<ExecutionContext>();

/** Waits for a permit for this test (one per test, however many schemas it makes), freed at its end. */
async function holdDatabasePermit(t: ExecutionContext): Promise<void> {
  if (testsHoldingPermit.has(t)) return;
  testsHoldingPermit.add(t);
  if (freePermits > 0) freePermits--;
  else await new Promise<void>((resolve) => waitingForPermit.push(resolve));
  // Registered before the test's own teardowns, so it runs after them (AVA runs them in reverse).
  t.teardown(() => {
    const next = waitingForPermit.shift();
    if (next) next();
    else freePermits++;
  });
}

/**
 * Creates a fresh schema and a pool connected with `search_path` set to it, ended at teardown;
 * the schema is kept for inspection. With `apply` (the default) the Procrastinate schema is
 * created in it.
 */
export async function procrastinateDb(t: ExecutionContext, { apply = true } = {}): Promise<ProcrastinateDb> {
  await holdDatabasePermit(t);
  const admin = await connectPostgres({ max: 1 });
  const schema = await freshSchema(admin).finally(() => admin.end());
  const pool = await connectPostgres({ options: `-c search_path=${schema}` });
  t.teardown(() => pool.end());
  if (apply) await applySchema(pool);
  return { pool, schema };
}

/** The statements of Procrastinate's client, as Python sends them (spec §5). */
export const q = {
  deferOne:
    'SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW($1,$2,$3,$4,$5,$6::jsonb,$7::timestamptz)]' +
    '::procrastinate_job_to_defer_v1[])) AS id',
  // A batch from parallel typed arrays, one per field; the ordinality keeps the input order.
  deferMany: `SELECT unnest(procrastinate_defer_jobs_v1(ARRAY(
      SELECT ROW(j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock, j.args, j.scheduled_at)::procrastinate_job_to_defer_v1
      FROM unnest($1::varchar[], $2::varchar[], $3::integer[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[])
        WITH ORDINALITY AS j(queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at, n)
      ORDER BY j.n))) AS id`,
  fetch:
    'SELECT id, status, task_name, priority, lock, queueing_lock, args, scheduled_at, queue_name, attempts, worker_id ' +
    'FROM procrastinate_fetch_job_v2($1::varchar[], $2::bigint)',
  finish: 'SELECT procrastinate_finish_job_v1($1::bigint, $2::procrastinate_job_status, $3::boolean)',
  retry: 'SELECT procrastinate_retry_job_v2($1::bigint, $2::timestamptz, $3::integer, $4::varchar, $5::varchar)',
  retryV1: 'SELECT procrastinate_retry_job_v1($1::bigint, $2::timestamptz, $3::integer, $4::varchar, $5::varchar)',
  cancel: 'SELECT procrastinate_cancel_job_v1($1::bigint, $2::boolean, $3::boolean) AS id',
  register: 'SELECT worker_id FROM procrastinate_register_worker_v1()',
  unregister: 'SELECT procrastinate_unregister_worker_v1($1::bigint)',
  heartbeat: 'SELECT procrastinate_update_heartbeat_v1($1::bigint)',
  prune: 'SELECT worker_id FROM procrastinate_prune_stalled_workers_v1($1::double precision)',
  deferPeriodic:
    'SELECT procrastinate_defer_periodic_job_v2($1::varchar, $2::varchar, $3::varchar, $4::varchar, ' +
    '$5::integer, $6::varchar, $7::bigint, $8::jsonb) AS id',
} as const;

/** A job to defer; omitted fields take Procrastinate's defaults. */
export interface JobSpec {
  queue?: string;
  task?: string;
  priority?: number;
  lock?: string | null;
  queueingLock?: string | null;
  args?: Record<string, unknown>;
  scheduledAt?: Date | null;
}

/** Defers one job with the single-job shape; returns its id (a string: int8). */
export async function deferOne(db: pg.Pool | pg.ClientBase, job: JobSpec = {}): Promise<string> {
  const result = await db.query<{ id: string }>(q.deferOne, [
    job.queue ?? 'default',
    job.task ?? 'tests.task',
    job.priority ?? 0,
    job.lock ?? null,
    job.queueingLock ?? null,
    JSON.stringify(job.args ?? {}),
    job.scheduledAt ?? null,
  ]);
  return result.rows[0]!.id;
}

/** Defers a batch with the parallel-arrays shape; returns the ids in result order, one per job. */
export async function deferMany<const T extends readonly JobSpec[]>(
  db: pg.Pool | pg.ClientBase,
  jobs: T,
): Promise<{ -readonly [K in keyof T]: string }> {
  const result = await db.query<{ id: string }>(q.deferMany, [
    jobs.map((j) => j.queue ?? 'default'),
    jobs.map((j) => j.task ?? 'tests.task'),
    jobs.map((j) => j.priority ?? 0),
    jobs.map((j) => j.lock ?? null),
    jobs.map((j) => j.queueingLock ?? null),
    jobs.map((j) => JSON.stringify(j.args ?? {})),
    jobs.map((j) => j.scheduledAt ?? null),
  ]);
  return result.rows.map((r) => r.id) as { -readonly [K in keyof T]: string };
}

/** A row of the fetch shape; every field is null when nothing was claimed. */
export interface FetchedJob {
  id: string | null;
  status: string | null;
  task_name: string | null;
  priority: number | null;
  lock: string | null;
  queueing_lock: string | null;
  args: Record<string, unknown> | null;
  scheduled_at: Date | null;
  queue_name: string | null;
  attempts: number | null;
  worker_id: string | null;
}

/** Runs fetch_job_v2; `queues` null means every queue. */
export async function fetchJob(db: pg.Pool | pg.ClientBase, queues: string[] | null, workerId: string): Promise<FetchedJob> {
  const result = await db.query<FetchedJob>(q.fetch, [queues, workerId]);
  return result.rows[0]!;
}

/** Registers a worker; returns its id. */
export async function registerWorker(db: pg.Pool | pg.ClientBase): Promise<string> {
  return (await db.query<{ worker_id: string }>(q.register)).rows[0]!.worker_id;
}

/** The event types of a job, oldest first. */
export async function eventTypes(db: pg.Pool, jobId: string): Promise<string[]> {
  const result = await db.query<{ type: string }>('SELECT type FROM procrastinate_events WHERE job_id = $1 ORDER BY id', [jobId]);
  return result.rows.map((r) => r.type);
}

/** The columns of a job not returned by fetch, plus its status and attempts. */
export async function jobRow(db: pg.Pool, jobId: string) {
  const result = await db.query<{
    status: string;
    attempts: number;
    abort_requested: boolean;
    worker_id: string | null;
    priority: number;
    queue_name: string;
    lock: string | null;
    scheduled_at: Date | null;
  }>(
    'SELECT status, attempts, abort_requested, worker_id, priority, queue_name, lock, scheduled_at FROM procrastinate_jobs WHERE id = $1',
    [jobId],
  );
  return result.rows[0];
}

/** A notification as received: its channel, parsed JSON payload and the notifying backend's pid. */
export interface Received {
  channel: string;
  payload: { type: string; job_id: number };
  raw: string;
  processId: number;
}

/**
 * A dedicated LISTEN client on the given channels (quoted: they contain `#`), closed at teardown.
 * Channels are database-wide and other tests run at the same time, so filter what it receives
 * by the pid of the connection that caused it (`SELECT pg_backend_pid()`).
 */
export async function listen(t: ExecutionContext, channels: readonly string[]) {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {}); // a dropped connection fails the waits below
  await client.connect();
  t.teardown(() => client.end());
  const received: Received[] = [];
  client.on('notification', (n) => {
    received.push({ channel: n.channel, payload: JSON.parse(n.payload ?? 'null'), raw: n.payload ?? '', processId: n.processId });
  });
  for (const channel of channels) await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
  return {
    /** Notifications sent by the connection with this pid so far. */
    from: (pid: number) => received.filter((n) => n.processId === pid),
    /**
     * Waits until no more arrive from `pid`: NOTIFY is delivered at commit, and a short quiet
     * period after a round trip is enough on one host.
     */
    async settle(pid: number, quietMs = 150): Promise<Received[]> {
      await client.query('SELECT 1');
      await new Promise((resolve) => setTimeout(resolve, quietMs));
      return received.filter((n) => n.processId === pid);
    },
  };
}

/** A client from the pool for statements whose notifications a test follows, and its pid. */
export async function trackedClient(t: ExecutionContext, pool: pg.Pool): Promise<{ client: pg.PoolClient; pid: number }> {
  const client = await pool.connect();
  t.teardown(() => client.release());
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  return { client, pid };
}
