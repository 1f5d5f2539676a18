/**
 * Procrastinate: draining pre-deferred no-op jobs, and the latency from defer to handler start.
 *
 * Every drain gets a fresh PostgreSQL schema holding the Procrastinate schema (`applySchema`), N
 * no-op jobs deferred to queue `bench` in one statement (`deferMany`), and a pool connected with
 * `-c search_path=<schema>`, as a Python app's. Measured on the same machine, in this order:
 *
 * - SQL ceiling: C connections, each looping `procrastinate_fetch_job_v2` + `procrastinate_finish_job_v1`
 *   (the statements Python sends, one job per fetch) until the queue is empty, as unnamed statements
 *   (parsed and planned at each call, as this library sends its own); then the same loop with
 *   prepared statements.
 * - SQL, batched: the same with `fetch_job_v2` called B times in one statement (job-fetch-batch.sql's
 *   shape) and the B jobs finished in one statement: what batching could reach on this schema.
 * - Ours: a Scheduler with S slots (Redis slots, then PostgreSQL slots in a schema of their own) and
 *   a ProcrastinateBackend with a no-op handler, started by one `schedule()`: freed slots refill at
 *   once, and passes with several idle slots claim through `pollBatch`.
 * - graphile-worker at concurrency S: its defaults, then its batched local queue, then the local
 *   queue with batched completions (`completeJobBatchDelay: 0`).
 *
 * A drain ends when the last job's end is written: for ours, at the N-th `task:stop` (the job
 * is written before its slot is stopped); for graphile-worker, when its jobs table is empty (it
 * deletes completed jobs, and does not wait for that write before taking the next job). Then the
 * jobs' statuses are checked in SQL. Latency, measured before the drains: with the Scheduler idle
 * and listening, single jobs are deferred one at a time through `ProcrastinateClient.defer`, each
 * once the previous one has ended, and the time from `defer` returning to the handler starting is
 * taken on one clock.
 */
import { EventEmitter } from 'node:events';
import { loadavg } from 'node:os';
import pg from 'pg';
import { Scheduler, type Occupancy, type PassReport, type SchedulerOptions, type SlotStore } from '../src/index.js';
import { PostgresSlotStore } from '../slots/postgres/index.js';
import { RedisSlotStore } from '../slots/redis/index.js';
import { ProcrastinateBackend, ProcrastinateClient, applySchema } from '../backends/procrastinate/index.js';
import {
  countPostgres,
  countRedis,
  databaseUrl,
  fmt,
  machineCpu,
  machineCpuSince,
  percentile,
  sleep,
  summarize,
  uniqueName,
  type RoundTrips,
  type MachineCpu,
  type Row,
  type Services,
} from './common.js';
import { loadGraphileWorker, type GraphileOptions, type GraphileWorker } from './graphile-worker.js';

export interface ProcrastinateBenchOptions {
  /** Jobs per drain. */
  jobs: number;
  /** Slots of our Scheduler, connections of the SQL loops, concurrency of graphile-worker. */
  slots: number;
  /** Connections of our backend's pool. */
  poolSize: number;
  /** Jobs per statement of the batched SQL loop. */
  sqlBatch: number;
  /** Jobs deferred one at a time for the latency. */
  latencyJobs: number;
  /** Each round drains once with every contender; medians are over rounds. */
  rounds: number;
  /** Jobs of the unmeasured warm-up drain of each contender (0: none). */
  warmupJobs: number;
  /** Contenders to run (default all): sql, sql-prepared, sql-batch, sql-lockstep, sql-redis-slots, sql-pg-slots, redis, postgres, graphile, graphile-lq, graphile-lq-batch, latency. */
  only: readonly string[] | undefined;
}

export interface ProcrastinateBenchResult {
  drains: Row[];
  /** Where our drains spend their time (last round). */
  profiles: Row[];
  latency: Row[];
  notes: string[];
  /** Medians by contender, for the summary. */
  medians: Map<string, number>;
}

const queue = 'bench';
const taskName = 'bench.noop';

/** The statements a Python worker sends (PROCRASTINATE.md §5; the same text as test/helpers' `q`). */
const sql = {
  register: 'SELECT worker_id FROM procrastinate_register_worker_v1()',
  unregister: 'SELECT procrastinate_unregister_worker_v1($1::bigint)',
  fetch:
    'SELECT id, status, task_name, priority, lock, queueing_lock, args, scheduled_at, queue_name, attempts, worker_id ' +
    'FROM procrastinate_fetch_job_v2($1::varchar[], $2::bigint)',
  finish: 'SELECT procrastinate_finish_job_v1($1::bigint, $2::procrastinate_job_status, $3::boolean)',
  // fetch_job_v2 once per row of a MATERIALIZED CTE: one call per job, each seeing the claims of
  // the calls before it (backends/procrastinate/sql/job-fetch-batch.sql explains the shape).
  fetchBatch: `WITH claimed AS MATERIALIZED (
      SELECT procrastinate_fetch_job_v2($1::varchar[], $2::bigint) AS job FROM generate_series(1, $3::integer)
    )
    SELECT (claimed.job).id FROM claimed WHERE (claimed.job).id IS NOT NULL`,
  // finish_job_v1 once per job, in id order (the order rows are locked in).
  finishMany: `SELECT procrastinate_finish_job_v1(ids.id, $2::procrastinate_job_status, $3::boolean)
    FROM (SELECT unnest($1::bigint[]) AS id ORDER BY 1) AS ids`,
  statuses: 'SELECT status::text AS status, count(*)::int AS n FROM procrastinate_jobs GROUP BY status',
} as const;

interface Drain {
  contender: string;
  jobsPerSec: number;
  elapsedMs: number;
  /** e.g. `SQL 2.00 (fetch×1 finish×1), Redis 2.1 (…)`. */
  requests: string;
  loadBefore: number;
  loadAfter: number;
  /** CPU time of this process (user + system) during the drain. */
  cpuMs: number;
  /** Busy CPU time of the whole machine (every process: Node, PostgreSQL, Redis), and time stolen by the hypervisor; null off Linux. */
  machine: MachineCpu | null;
  /** Ours only: passes and refill rounds, jobs started per round, and mean request latencies. */
  profile?: Row;
}

/** A contender: a label for tables and a drain of `jobs` jobs. */
interface Contender {
  key: string;
  label: string;
  drain(jobs: number): Promise<Drain>;
}

const load1 = () => loadavg()[0]!;

/** What a drain measures besides its clock: this process's CPU, the machine's, and the load. */
type Measured = Pick<Drain, 'cpuMs' | 'machine' | 'loadBefore' | 'loadAfter'>;

/** Starts measuring; the function returned stops and reads. */
function measure(): () => Measured {
  const loadBefore = load1();
  const cpuBefore = process.cpuUsage();
  const machineBefore = machineCpu();
  return () => {
    const { user, system } = process.cpuUsage(cpuBefore);
    return { cpuMs: (user + system) / 1000, machine: machineCpuSince(machineBefore), loadBefore, loadAfter: load1() };
  };
}

export async function procrastinateBench(services: Services, options: ProcrastinateBenchOptions): Promise<ProcrastinateBenchResult> {
  const notes: string[] = [];
  const admin = await services.postgres(2);
  const graphile = loadGraphileWorker();
  const contenders: Contender[] = [
    { key: 'sql', label: `SQL ceiling: fetch_job_v2 + finish_job_v1, ${options.slots} connections`, drain: (n) => sqlDrain(services, admin, n, options.slots, 1) },
    {
      key: 'sql-prepared',
      label: `SQL, prepared statements: fetch_job_v2 + finish_job_v1, ${options.slots} connections`,
      drain: (n) => sqlDrain(services, admin, n, options.slots, 1, true),
    },
    {
      key: 'sql-batch',
      label: `SQL batched: ${options.sqlBatch} × fetch_job_v2 in 1 statement + ${options.sqlBatch} × finish_job_v1 in 1, ${options.slots} connections`,
      drain: (n) => sqlDrain(services, admin, n, options.slots, options.sqlBatch),
    },
    {
      key: 'sql-lockstep',
      label: `SQL lockstep: ${options.slots} × fetch_job_v2 in 1 statement on 1 connection, their finish beside the next fetch (≤ ${options.slots} jobs claimed)`,
      drain: (n) => sqlLockstepDrain(services, admin, n, options.slots),
    },
    {
      key: 'sql-redis-slots',
      label: `SQL lockstep + Redis slot store: the lockstep's claim beside endMany (keeping the ${options.slots} slots), then startMany; no Scheduler`,
      drain: (n) => sqlSlotsDrain(services, admin, n, options.slots, 'redis'),
    },
    {
      key: 'sql-pg-slots',
      label: `SQL lockstep + PostgreSQL slot store: the same round on PostgreSQL slots`,
      drain: (n) => sqlSlotsDrain(services, admin, n, options.slots, 'postgres'),
    },
    { key: 'redis', label: `task-semaphore, ${options.slots} Redis slots`, drain: (n) => oursDrain(services, admin, n, options, 'redis') },
    { key: 'postgres', label: `task-semaphore, ${options.slots} PostgreSQL slots`, drain: (n) => oursDrain(services, admin, n, options, 'postgres') },
  ];
  if ('error' in graphile) {
    notes.push(`graphile-worker skipped: ${graphile.error}`);
  } else {
    const { worker, version } = graphile;
    const size = options.slots + 1;
    contenders.push(
      { key: 'graphile', label: `graphile-worker ${version}, concurrency ${options.slots}, defaults`, drain: (n) => graphileDrain(services, admin, worker, n, options.slots, undefined) },
      {
        key: 'graphile-lq',
        label: `graphile-worker ${version}, concurrency ${options.slots}, localQueue.size ${size}`,
        drain: (n) => graphileDrain(services, admin, worker, n, options.slots, { localQueue: { size } }),
      },
      {
        key: 'graphile-lq-batch',
        label: `graphile-worker ${version}, concurrency ${options.slots}, localQueue.size ${size}, completeJobBatchDelay 0`,
        drain: (n) => graphileDrain(services, admin, worker, n, options.slots, { localQueue: { size }, completeJobBatchDelay: 0 }),
      },
    );
    if (Number(process.versions.node.split('.')[0]) < 22) {
      notes.push(`graphile-worker ${version} declares node >= 22.18 (engines); it ran here on Node ${process.version} without errors, every job checked in SQL.`);
    }
  }
  const selected = contenders.filter((c) => !options.only || options.only.includes(c.key));

  // Latency first, on a machine not yet warmed by the drains (their WAL and dead rows, the load).
  const latency: Row[] = [];
  if (!options.only || options.only.includes('latency')) latency.push(await latencyRun(services, admin, options));

  const runs = new Map<string, Drain[]>(selected.map((c) => [c.key, []]));
  for (let round = 0; round < options.rounds; round++) {
    // Each round starts one contender later, so that none always runs right after the same other
    // (whose WAL, dead rows and checkpoints it would inherit) or always first on a cool machine.
    const order = selected.map((_, i) => selected[(i + round) % selected.length]!);
    for (const contender of order) {
      // JIT, connections and server caches warm before the first measured drain of each contender.
      if (round === 0 && options.warmupJobs > 0) await contender.drain(Math.min(options.jobs, options.warmupJobs));
      runs.get(contender.key)!.push(await contender.drain(options.jobs));
    }
  }

  const medians = new Map([...runs].map(([key, drains]) => [key, summarize(drains.map((d) => d.jobsPerSec)).median]));
  const ceiling = medians.get('sql');
  const graphileDefault = medians.get('graphile');
  const slotCeilings = new Map([
    ['sql-redis-slots', { key: 'redis', label: 'Redis slots' }],
    ['sql-pg-slots', { key: 'postgres', label: 'PostgreSQL slots' }],
  ]);
  const drains: Row[] = selected.map((contender) => {
    const mine = runs.get(contender.key)!;
    const median = medians.get(contender.key)!;
    const row: Row = {
      contender: contender.label,
      jobs: fmt(options.jobs, 0),
      'jobs/s per round': mine.map((d) => fmt(d.jobsPerSec, 0)).join(', '),
      'jobs/s median': fmt(median, 0),
      '÷ SQL ceiling': ceiling ? fmt(median / ceiling, 2) : '-',
      'ours (Redis slots) ÷ this': medians.get('redis') && contender.key !== 'redis' && contender.key !== 'postgres' ? fmt(medians.get('redis')! / median, 2) : '',
      'requests/job (last round)': mine.at(-1)!.requests,
      'Node CPU ms/job': fmt(summarize(mine.map((d) => d.cpuMs / options.jobs)).median, 3),
      'machine CPU ms/job (steal %)': mine.every((d) => d.machine)
        ? `${fmt(summarize(mine.map((d) => d.machine!.busyMs / options.jobs)).median, 3)} (${mine.map((d) => fmt(d.machine!.stealPercent, 0)).join(', ')})`
        : '-',
      'load 1 min before → after': mine.map((d) => `${fmt(d.loadBefore, 2)} → ${fmt(d.loadAfter, 2)}`).join('; '),
      target: '',
    };
    if (ceiling && (contender.key === 'redis' || contender.key === 'postgres')) {
      const ratio = median / ceiling;
      const parts = [`≥ 90 % of SQL ceiling: ${ratio >= 0.9 ? 'met' : 'missed'} (${fmt(ratio * 100, 0)} %)`];
      if (graphileDefault) {
        const vs = median / graphileDefault;
        parts.push(`≥ 1.0× graphile defaults: ${vs >= 1 ? 'met' : 'missed'} (${fmt(vs, 2)}×)`);
      }
      row.target = parts.join('; ');
    }
    const ours = slotCeilings.get(contender.key);
    if (ours) {
      // What the slot store can reach at best, without our Node code: compare ours and graphile-worker to it.
      const parts: string[] = [];
      if (medians.get(ours.key)) parts.push(`ours (${ours.label}) reach ${fmt((medians.get(ours.key)! / median) * 100, 0)} % of it`);
      if (graphileDefault) parts.push(`it is ${fmt(median / graphileDefault, 2)}× graphile defaults`);
      row.target = parts.join('; ');
    }
    return row;
  });

  const profiles = [...runs.values()].flatMap((drains) => (drains.at(-1)?.profile ? [drains.at(-1)!.profile!] : []));
  return { drains, profiles, latency, notes, medians };
}

// --- setup ---------------------------------------------------------------------------------------

interface Queue {
  schema: string;
  pool: pg.Pool;
  /** Drops the schema and ends the pool. */
  drop(): Promise<void>;
}

/** A fresh schema with the Procrastinate schema and `jobs` no-op jobs deferred in one statement. */
async function freshQueue(services: Services, admin: pg.Pool, jobs: number, poolSize: number): Promise<Queue> {
  const schema = services.newSchema('bench_pq');
  await admin.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
  const pool = await services.postgres(poolSize, { options: `-c search_path=${schema}` });
  await applySchema(pool);
  if (jobs > 0) {
    const client = new ProcrastinateClient({ postgres: pool });
    const ids = await client.deferMany(Array.from({ length: jobs }, () => ({ taskName, queue })));
    if (ids.length !== jobs) throw new Error(`deferMany returned ${ids.length} ids for ${jobs} jobs`);
  }
  // Statistics for the planner, as autovacuum would gather them on a table that has grown this much.
  await pool.query('ANALYZE procrastinate_jobs');
  return {
    schema,
    pool,
    drop: async () => {
      await pool.end().catch(() => {});
      await services.dropSchema(admin, schema);
    },
  };
}

/** Checks that every job succeeded: none left todo or doing, nothing else. */
async function verify(pool: pg.Pool, jobs: number, who: string): Promise<void> {
  const { rows } = await pool.query<{ status: string; n: number }>(sql.statuses);
  const counts = Object.fromEntries(rows.map((r) => [r.status, r.n]));
  if (counts.succeeded !== jobs || rows.length !== 1) throw new Error(`${who}: expected ${jobs} succeeded jobs, found ${JSON.stringify(counts)}`);
}

function describe(label: string, counter: RoundTrips, jobs: number): string {
  return `${label} ${fmt(counter.total / jobs, 2)} (${counter.describe()})`;
}

// --- SQL loops -----------------------------------------------------------------------------------

/**
 * A statement as pg sends it: unnamed (parsed and planned at each call, as this library sends its
 * statements), or named, i.e. prepared once per connection (as psycopg 3 does after 5 executions,
 * and graphile-worker by default).
 */
function statement(name: keyof typeof sql, prepared: boolean): string | pg.QueryConfig {
  return prepared ? { name: `bench_${name}`, text: sql[name] } : sql[name];
}

/** `connections` loops of fetch + finish (`batch` jobs per statement) until the queue is empty. */
async function sqlDrain(services: Services, admin: pg.Pool, jobs: number, connections: number, batch: number, prepared = false): Promise<Drain> {
  const q = await freshQueue(services, admin, jobs, connections);
  const clients: pg.PoolClient[] = [];
  try {
    const workerId = (await q.pool.query<{ worker_id: string }>(sql.register)).rows[0]!.worker_id;
    for (let i = 0; i < connections; i++) clients.push(await q.pool.connect());
    let statements = 0;
    const stop = measure();
    const began = performance.now();
    await Promise.all(
      clients.map(async (client) => {
        for (;;) {
          statements++;
          if (batch === 1) {
            const { rows } = await client.query<{ id: string | null }>(statement('fetch', prepared), [[queue], workerId]);
            const id = rows[0]?.id;
            if (id === null || id === undefined) return;
            statements++;
            await client.query(statement('finish', prepared), [id, 'succeeded', false]);
          } else {
            const { rows } = await client.query<{ id: string }>(statement('fetchBatch', prepared), [[queue], workerId, batch]);
            if (rows.length === 0) return;
            statements++;
            await client.query(statement('finishMany', prepared), [rows.map((r) => r.id), 'succeeded', false]);
          }
        }
      }),
    );
    const elapsedMs = performance.now() - began;
    const measured = stop();
    for (const client of clients.splice(0)) client.release();
    await verify(q.pool, jobs, batch === 1 ? 'SQL loop' : 'batched SQL loop');
    await q.pool.query(sql.unregister, [workerId]);
    return {
      contender: batch === 1 ? 'sql' : 'sql-batch',
      jobsPerSec: (jobs / elapsedMs) * 1000,
      elapsedMs,
      requests: `SQL ${fmt(statements / jobs, 2)}`,
      ...measured,
    };
  } finally {
    for (const client of clients) client.release();
    await q.drop();
  }
}

// --- ours ----------------------------------------------------------------------------------------

/**
 * What a client that never holds more than `batch` claimed jobs can reach on this schema, with no
 * slot bookkeeping: claim `batch` jobs in one statement, finish them in one statement on a second
 * connection while the next claim runs (at most one finish in flight), claim again as soon as the
 * claim returns. Our drain does this plus a slot start per round; the difference is its cost.
 */
async function sqlLockstepDrain(services: Services, admin: pg.Pool, jobs: number, batch: number): Promise<Drain> {
  const q = await freshQueue(services, admin, jobs, 3); // the third for verify
  const [fetcher, finisher] = [await q.pool.connect(), await q.pool.connect()];
  try {
    const workerId = (await fetcher.query<{ worker_id: string }>(sql.register)).rows[0]!.worker_id;
    let statements = 0;
    let finishing: Promise<unknown> | undefined;
    const stop = measure();
    const began = performance.now();
    for (;;) {
      statements++;
      const { rows } = await fetcher.query<{ id: string }>(sql.fetchBatch, [[queue], workerId, batch]);
      if (rows.length === 0) break;
      // At most one finish in flight, as ours: this one waits for the one before (long done, as a rule).
      await finishing;
      statements++;
      finishing = finisher.query(sql.finishMany, [rows.map((r) => r.id), 'succeeded', false]);
      finishing.catch(() => {}); // awaited at the next claim, or after the loop
    }
    await finishing;
    const elapsedMs = performance.now() - began;
    const measured = stop();
    await verify(q.pool, jobs, 'SQL lockstep');
    await q.pool.query(sql.unregister, [workerId]);
    return { contender: 'sql-lockstep', jobsPerSec: (jobs / elapsedMs) * 1000, elapsedMs, requests: `SQL ${fmt(statements / jobs, 2)}`, ...measured };
  } finally {
    fetcher.release();
    finisher.release();
    await q.drop();
  }
}

/**
 * The SQL lockstep plus what slots add to it, through the slot store's own batch calls and no
 * Scheduler: each round ends the running slots (keeping them reserved) beside the claim, then
 * starts the claimed jobs in them; the finish goes beside the next claim. This is the round ours
 * makes, without the Node code around it: the ceiling of each slot store on this machine.
 */
async function sqlSlotsDrain(services: Services, admin: pg.Pool, jobs: number, slots: number, kind: 'redis' | 'postgres'): Promise<Drain> {
  const q = await freshQueue(services, admin, jobs, 3); // the third for verify
  const name = uniqueName('bench_pq');
  let store: SlotStore & Required<Pick<SlotStore, 'startMany' | 'endMany'>>;
  let storeCounter: RoundTrips;
  let cleanup = async () => {};
  if (kind === 'redis') {
    const client = await services.redis();
    storeCounter = countRedis(client);
    store = new RedisSlotStore({ name, redis: client, keyPrefix: services.keyPrefix });
  } else {
    const slotSchema = services.newSchema('bench_slots');
    const slotPool = await services.postgres(2);
    storeCounter = countPostgres(slotPool);
    store = new PostgresSlotStore({ name, postgres: slotPool, schema: slotSchema });
    cleanup = async () => {
      await slotPool.end().catch(() => {});
      await services.dropSchema(admin, slotSchema);
    };
  }
  const [fetcher, finisher] = [await q.pool.connect(), await q.pool.connect()];
  try {
    const slotIds = Array.from({ length: slots }, (_, i) => String(i + 1));
    await store.init(slotIds);
    const workerId = (await fetcher.query<{ worker_id: string }>(sql.register)).rows[0]!.worker_id;
    const backend = 'Procrastinate';
    const lease = { owner: 'bench', leaseMs: 60_000 };
    const claim = async () => (await fetcher.query<{ id: string }>(sql.fetchBatch, [[queue], workerId, slots])).rows.map((r) => r.id);
    let statements = 0;
    let finishing: Promise<unknown> | undefined;
    storeCounter.reset();
    const stop = measure();
    const began = performance.now();
    let reserved = (await store.beginPass({ slotIds, ...lease, deliverable: [backend], retentionMs: 60_000, limit: 100 })).reserved;
    let running: Occupancy[] = [];
    for (;;) {
      statements++;
      const [ids, ended] = await Promise.all([
        claim(),
        running.length === 0
          ? []
          : store.endMany(running.map((o) => ({ taskId: o.taskId, token: o.token, reason: 'stopped', status: 'succeeded', deliverable: [backend], retentionMs: 60_000, reserve: lease }))),
      ]);
      for (const result of ended) {
        if (!result.ok || !result.reserved) throw new Error(`end of ${JSON.stringify(result)} did not keep its slot`);
        reserved.push(result.reserved);
      }
      // At most one finish in flight, as ours and the lockstep.
      await finishing;
      if (running.length > 0) {
        statements++;
        finishing = finisher.query(sql.finishMany, [running.map((o) => o.taskId), 'succeeded', false]);
        finishing.catch(() => {}); // awaited at the next round, or after the loop
      }
      const starting = reserved.slice(0, ids.length);
      reserved = reserved.slice(ids.length);
      if (ids.length === 0) break;
      const started = await store.startMany(starting.map((r, i) => ({ ...r, taskId: ids[i]!, backend, timeoutMs: 300_000, maxRuntimeMs: null })));
      running = started.map((result) => {
        if (!result.ok) throw new Error(`start refused: ${result.reason}`);
        return result.occupancy;
      });
    }
    await store.release(reserved);
    await finishing;
    const elapsedMs = performance.now() - began;
    const measured = stop();
    await verify(q.pool, jobs, `SQL lockstep + ${kind} slots`);
    await q.pool.query(sql.unregister, [workerId]);
    const requests = `SQL ${fmt(statements / jobs, 2)}; ${describe(kind === 'redis' ? 'Redis' : 'slots SQL', storeCounter, jobs)}`;
    return { contender: `sql-${kind}-slots`, jobsPerSec: (jobs / elapsedMs) * 1000, elapsedMs, requests, ...measured };
  } finally {
    fetcher.release();
    finisher.release();
    await store.close();
    await q.drop();
    await cleanup();
  }
}

/** Our Scheduler with a ProcrastinateBackend on its own, on Redis or PostgreSQL slots. */
async function oursDrain(services: Services, admin: pg.Pool, jobs: number, options: ProcrastinateBenchOptions, store: 'redis' | 'postgres'): Promise<Drain> {
  const q = await freshQueue(services, admin, jobs, options.poolSize);
  const sqlCounter = countPostgres(q.pool);
  let storeCounter: RoundTrips;
  let storeOptions: Omit<SchedulerOptions, 'name'>;
  let slotPool: pg.Pool | undefined;
  let slotSchema: string | undefined;
  if (store === 'redis') {
    const client = await services.redis();
    storeCounter = countRedis(client);
    storeOptions = { redis: client, keyPrefix: services.keyPrefix };
  } else {
    slotSchema = services.newSchema('bench_slots');
    slotPool = await services.postgres(options.slots);
    storeCounter = countPostgres(slotPool);
    storeOptions = { postgres: slotPool, postgresSchema: slotSchema };
  }
  let handled = 0;
  let stopped = 0;
  let fail!: (error: Error) => void;
  let finish!: () => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const backend = new ProcrastinateBackend({
    postgres: q.pool,
    queues: [queue],
    tasks: {
      [taskName]: () => {
        handled++;
      },
    },
  });
  const scheduler = new Scheduler({ name: uniqueName('bench_pq'), timeout: '5m', ...storeOptions });
  scheduler.registerBackend('Procrastinate', backend);
  scheduler.on('task:stop', (ended) => {
    if (ended.status !== 'succeeded') fail(new Error(`job ${ended.taskId} ended ${ended.reason}/${String(ended.status)}: ${String(ended.error)}`));
    else if (++stopped === jobs) finish();
  });
  scheduler.on('pass:error', (error) => fail(error));
  scheduler.on('poll:error', ({ error }) => fail(error));
  scheduler.on('callback:error', ({ callback, error }) => fail(new Error(`${callback}: ${error.message}`)));
  scheduler.on('task:reject', ({ taskId, reason }) => fail(new Error(`job ${taskId} rejected: ${reason}`)));
  let passes = 0;
  let passMs = 0;
  let startingPasses = 0;
  // Passes and refill rounds alike: each polls and starts.
  const onRound = (report: PassReport) => {
    passes++;
    passMs += report.durationMs;
    if (report.started > 0) startingPasses++;
  };
  scheduler.on('pass:end', onRound);
  scheduler.on('refill:end', onRound);
  let stall: NodeJS.Timeout | undefined;
  try {
    await scheduler.load(Array.from({ length: options.slots }, (_, i) => ({ slotId: i + 1, backends: ['Procrastinate'] })));
    stall = setTimeout(() => fail(new Error(`drain stalled: ${stopped} of ${jobs} jobs ended after 180 s`)), 180_000);
    sqlCounter.reset();
    storeCounter.reset();
    passes = 0;
    passMs = 0;
    startingPasses = 0;
    const stop = measure();
    const began = performance.now();
    scheduler.schedule().catch((error: unknown) => fail(error as Error));
    await done;
    const elapsedMs = performance.now() - began;
    const measured = stop();
    const requests = `${describe('SQL', sqlCounter, jobs)}; ${describe(store === 'redis' ? 'Redis' : 'slots SQL', storeCounter, jobs)}`;
    const profile: Row = {
      slots: `${store}`,
      'passes + refill rounds': fmt(passes, 0),
      'jobs per starting round': fmt(jobs / startingPasses, 2),
      'round ms (mean)': fmt(passMs / passes, 2),
      'rounds busy (% of drain)': `${fmt((passMs / elapsedMs) * 100, 0)} %`,
      'Procrastinate SQL, mean ms from send to reply': sqlCounter.describeLatency(),
      'slot store, mean ms from send to reply': storeCounter.describeLatency(),
    };
    clearTimeout(stall);
    await scheduler.close();
    if (handled !== jobs) throw new Error(`handler ran ${handled} times for ${jobs} jobs`);
    await verify(q.pool, jobs, `task-semaphore (${store} slots)`);
    return { contender: store, jobsPerSec: (jobs / elapsedMs) * 1000, elapsedMs, requests, ...measured, profile };
  } finally {
    clearTimeout(stall);
    await scheduler.close().catch(() => {});
    await q.drop();
    if (slotPool && slotSchema) {
      await slotPool.end().catch(() => {});
      await services.dropSchema(admin, slotSchema);
    }
  }
}

// --- graphile-worker -----------------------------------------------------------------------------

/** graphile-worker's `run` at `concurrency`, with extra preset options (undefined: its defaults). */
async function graphileDrain(
  services: Services,
  admin: pg.Pool,
  worker: GraphileWorker,
  jobs: number,
  concurrency: number,
  workerPreset: Record<string, unknown> | undefined,
): Promise<Drain> {
  const schema = services.newSchema('bench_gw');
  // Its logger would print a line per job: a silent one, as our Scheduler's default logger.
  const logger = new worker.Logger(() => () => {});
  const base: GraphileOptions = { connectionString: databaseUrl, schema, logger };
  try {
    await worker.runMigrations(base);
    const utils = await worker.makeWorkerUtils(base);
    try {
      const added = await utils.addJobs(Array.from({ length: jobs }, () => ({ identifier: 'noop', payload: {} })));
      if (added.length !== jobs) throw new Error(`addJobs added ${added.length} of ${jobs} jobs`);
    } finally {
      await utils.release();
    }
    const table = `${pg.escapeIdentifier(schema)}._private_jobs`;
    await admin.query(`ANALYZE ${table}`);
    const events = new EventEmitter();
    let completed = 0;
    let failed: Error | undefined;
    let allComplete!: () => void;
    const complete = new Promise<void>((resolve) => (allComplete = resolve));
    events.on('job:complete', ({ error }: { error?: unknown }) => {
      if (error) failed ??= new Error(`graphile-worker job failed: ${String(error)}`);
      if (++completed === jobs) allComplete();
    });
    const stop = measure();
    const began = performance.now();
    const runner = await worker.run({
      ...base,
      concurrency,
      noHandleSignals: true,
      taskList: { noop: async () => {} },
      events,
      ...(workerPreset ? { preset: { worker: workerPreset } } : {}),
    });
    let elapsedMs: number;
    let measured: Measured;
    try {
      const stall = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`graphile-worker drain stalled: ${completed} of ${jobs} after 180 s`)), 180_000).unref());
      await Promise.race([complete, stall, runner.promise.then(() => Promise.reject(new Error('graphile-worker runner ended early')))]);
      // Completions are written after job:complete: the drain ends when the table is empty.
      while (Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n) > 0) await sleep(2);
      elapsedMs = performance.now() - began;
      measured = stop();
    } finally {
      await runner.stop();
    }
    if (failed) throw failed;
    return {
      contender: 'graphile',
      jobsPerSec: (jobs / elapsedMs) * 1000,
      elapsedMs,
      requests: '-',
      ...measured,
    };
  } finally {
    await services.dropSchema(admin, schema);
  }
}

// --- latency -------------------------------------------------------------------------------------

/** defer → handler start, one job at a time, with the Scheduler idle and listening (Redis slots). */
async function latencyRun(services: Services, admin: pg.Pool, options: ProcrastinateBenchOptions): Promise<Row> {
  const q = await freshQueue(services, admin, 0, options.poolSize);
  const client = await services.redis();
  const redisCounter = countRedis(client);
  const sqlCounter = countPostgres(q.pool);
  let onStart: ((at: number) => void) | undefined;
  let onStop: (() => void) | undefined;
  const backend = new ProcrastinateBackend({
    postgres: q.pool,
    queues: [queue],
    tasks: { [taskName]: () => onStart?.(performance.now()) },
  });
  const scheduler = new Scheduler({ name: uniqueName('bench_pq_latency'), timeout: '5m', redis: client, keyPrefix: services.keyPrefix });
  scheduler.registerBackend('Procrastinate', backend);
  let failure: Error | undefined;
  scheduler.on('task:stop', () => onStop?.());
  scheduler.on('pass:error', (error) => (failure ??= error));
  scheduler.on('poll:error', ({ error }) => (failure ??= error));
  const deferrer = new ProcrastinateClient({ postgres: q.pool });
  try {
    await scheduler.load(Array.from({ length: options.slots }, (_, i) => ({ slotId: i + 1, backends: ['Procrastinate'] })));
    await scheduler.schedule(); // an empty pass: from now on only NOTIFYs and freed slots start passes
    const fromReturn: number[] = [];
    const fromCall: number[] = [];
    const warmup = Math.min(50, options.latencyJobs);
    const loadBefore = load1();
    for (let i = 0; i < warmup + options.latencyJobs; i++) {
      if (i === warmup) {
        redisCounter.reset();
        sqlCounter.reset();
      }
      const started = new Promise<number>((resolve) => (onStart = resolve));
      const stopped = new Promise<void>((resolve) => (onStop = resolve));
      const timeout = setTimeout(() => (failure ??= new Error(`job ${i} did not start within 10 s`)), 10_000);
      const called = performance.now();
      await deferrer.defer(taskName, {}, { queue });
      const returned = performance.now();
      const startedAt = await Promise.race([started, sleep(10_000).then(() => NaN)]);
      clearTimeout(timeout);
      if (failure) throw failure;
      if (i >= warmup) {
        fromReturn.push(startedAt - returned);
        fromCall.push(startedAt - called);
      }
      await stopped; // the job is written and its slot free: the Scheduler is idle again
      await sleep(3);
    }
    const loadAfter = load1();
    const n = options.latencyJobs;
    const requests = `${describe('SQL', sqlCounter, n)}; ${describe('Redis', redisCounter, n)}`;
    const latencies = `${sqlCounter.describeLatency()}; ${redisCounter.describeLatency()}`;
    const p50 = percentile(fromReturn, 50);
    const p99 = percentile(fromReturn, 99);
    await scheduler.close();
    await verify(q.pool, warmup + n, 'latency');
    return {
      setup: `${options.slots} Redis slots, idle, LISTEN/NOTIFY; one job at a time, 3 ms apart`,
      jobs: n,
      'defer return → start: p50 ms': fmt(p50, 2),
      'p99 ms': fmt(p99, 2),
      'max ms': fmt(Math.max(...fromReturn), 2),
      'defer call → start: p50 ms': fmt(percentile(fromCall, 50), 2),
      'p99 ms (from call)': fmt(percentile(fromCall, 99), 2),
      'requests/job': requests,
      'mean ms from send to reply': latencies,
      'load 1 min before → after': `${fmt(loadBefore, 2)} → ${fmt(loadAfter, 2)}`,
      target: `p50 ≤ 2 ms: ${p50 <= 2 ? 'met' : 'missed'}; p99 ≤ 10 ms: ${p99 <= 10 ? 'met' : 'missed'}`,
    };
  } finally {
    await scheduler.close().catch(() => {});
    await deferrer.close();
    await q.drop();
  }
}
