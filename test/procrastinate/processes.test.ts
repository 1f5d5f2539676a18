/**
 * The Procrastinate backend across processes (test/helpers/procrastinate-worker-process): several
 * Node processes sharing Redis slots never run more jobs at once than there are slots (counted
 * independently, in Redis); a process killed with SIGKILL mid-job has its jobs recovered exactly
 * once by a survivor's sweeper, which then runs them; a Python-style worker on other queues of
 * the same table is left alone. Jobs are deferred with the statements Python sends.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { sleep, waitFor } from '../../src/testing/scheduler-kit.js';
import { deferMany, fetchJob, jobRow, procrastinateDb, q, registerWorker } from '../helpers/procrastinate.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { skewedClockEnv } from '../helpers/libfaketime.js';
import { connectRedis, redisUrl, uniqueName } from '../helpers/services.js';

const workerScript = fileURLToPath(new URL('../helpers/procrastinate-worker-process.js', import.meta.url));

interface Ready {
  pid: number;
  workerId: string;
}

interface Run {
  jobId: string;
  task: string;
  attempts: number;
  pid: number;
  workerId: string;
}

interface LogLine {
  level: string;
  message: string;
  pid: number;
  [field: string]: unknown;
}

/**
 * A Redis client and a namespace for one test: its records, and the key prefix of its slots
 * (whose keys read `{<keyPrefix>:<name>}…`); all deleted at teardown.
 */
async function redisNamespace(t: ExecutionContext): Promise<{ redis: Redis; ns: string; keyPrefix: string }> {
  const redis = await connectRedis();
  const ns = uniqueName('pp');
  t.teardown(async () => {
    const keys = await redis.keys(`*${ns}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  return { redis, ns, keyPrefix: `${ns}-slots` };
}

/** Spawns worker processes; those still alive at teardown are killed with SIGKILL. */
function startWorkers(t: ExecutionContext, count: number, env: Record<string, string>): ChildProcess[] {
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, [workerScript], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] }),
  );
  t.teardown(() => children.forEach((child) => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  return children;
}

/** The exit code (null when killed by a signal). */
const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code)),
  );

const list = async <T>(redis: Redis, key: string): Promise<T[]> => (await redis.lrange(key, 0, -1)).map((line) => JSON.parse(line) as T);

/** Waits until `count` processes have loaded (failing at once if one exits); returns their records. */
async function ready(redis: Redis, ns: string, count: number, children: ChildProcess[]): Promise<Ready[]> {
  await waitFor(
    async () => {
      const dead = children.find((child) => child.exitCode !== null || child.signalCode !== null);
      if (dead) throw new Error(`worker process ${dead.pid} exited with ${dead.exitCode ?? dead.signalCode} before loading`);
      return (await redis.llen(`${ns}:ready`)) >= count;
    },
    `${count} worker processes to load`,
    30_000,
  );
  return list<Ready>(redis, `${ns}:ready`);
}

/** Waits until every job has `status`; the message of a timeout says where they are. */
async function waitStatus(pool: pg.Pool, ids: readonly string[], status: string, ms: number): Promise<void> {
  const counts = async () =>
    (
      await pool.query<{ status: string; n: string }>(
        'SELECT status, count(*) AS n FROM procrastinate_jobs WHERE id = ANY($1::bigint[]) GROUP BY status',
        [ids],
      )
    ).rows;
  try {
    await waitFor(async () => (await counts()).every((row) => row.status === status), `${ids.length} jobs to be ${status}`, ms);
  } catch (error) {
    throw new Error(`${(error as Error).message}; now: ${JSON.stringify(await counts())}`);
  }
}

/** The rows and event types of these jobs, by id. */
async function jobsById(pool: pg.Pool, ids: readonly string[]) {
  const { rows } = await pool.query<{
    id: string;
    status: string;
    attempts: number;
    worker_id: string | null;
    task_name: string;
    queue_name: string;
    events: string[];
  }>(
    `SELECT j.id, j.status, j.attempts, j.worker_id, j.task_name, j.queue_name,
            ARRAY(SELECT e.type::text FROM procrastinate_events e WHERE e.job_id = j.id ORDER BY e.id) AS events
     FROM procrastinate_jobs j WHERE j.id = ANY($1::bigint[])`,
    [ids],
  );
  return new Map(rows.map((row) => [row.id, row]));
}

/** Tells the processes to close, and checks that each exits 0. */
async function finish(t: ExecutionContext, redis: Redis, ns: string, children: ChildProcess[]): Promise<void> {
  await redis.set(`${ns}:done`, '1');
  let timer: NodeJS.Timeout | undefined;
  const codes = await Promise.race([
    Promise.all(children.map(exited)),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still running 30 s after done'), 30_000))),
  ]).finally(() => clearTimeout(timer));
  t.deepEqual(
    codes,
    children.map(() => 0),
    'every worker process closed and exited 0',
  );
}

test('3 processes × 4 shared Redis slots: 60 jobs run once each and never more than 4 at once', async (t) => {
  t.timeout(120_000);
  const { pool, schema } = await procrastinateDb(t);
  const { redis, ns, keyPrefix } = await redisNamespace(t);
  const children = startWorkers(t, 3, {
    NS: ns,
    NAME: uniqueName('pp'),
    KEY_PREFIX: keyPrefix,
    SCHEMA: schema,
    SLOTS: '4',
    SLOT_TIMEOUT: '10s',
    PASS_MS: '20',
    // A process refills the slots it frees: the cap makes the 3 processes share the 4 slots.
    MAX_LOCAL_TASKS: '2',
  });
  const workers = await ready(redis, ns, 3, children);

  const ids = await deferMany(
    pool,
    Array.from({ length: 60 }, (_, i) => ({ queue: 'node', task: 'node.work', args: { i, ms: 10 + ((i * 7) % 31) } })),
  );
  await waitStatus(pool, ids, 'succeeded', 60_000);
  // Read before the processes close: unregistering their workers sets worker_id to NULL.
  const jobs = await jobsById(pool, ids);
  await finish(t, redis, ns, children);

  t.deepEqual(await redis.lrange(`${ns}:violations`, 0, -1), []);
  t.deepEqual(await redis.lrange(`${ns}:errors`, 0, -1), []);
  t.deepEqual(
    (await list<LogLine>(redis, `${ns}:log`)).filter((line) => line.level === 'error'),
    [],
  );
  const max = Number(await redis.get(`${ns}:max`));
  t.true(max <= 4, `at most 4 jobs at once fleet-wide, counted ${max}`);
  t.true(max >= 2, `jobs ran side by side, counted at most ${max}`);

  const runs = await list<Run>(redis, `${ns}:runs`);
  t.deepEqual(runs.map((run) => run.jobId).sort(), [...ids].sort(), 'each job ran exactly once');
  const workerOf = new Map(workers.map((w) => [w.pid, w.workerId]));
  for (const id of ids) {
    const job = jobs.get(id);
    const run = runs.find((r) => r.jobId === id);
    t.like(job, { status: 'succeeded', attempts: 1, worker_id: run?.workerId }, `job ${id}`);
    t.is(run?.workerId, workerOf.get(run!.pid), `job ${id} ran under its process's worker id`);
    t.deepEqual(job?.events, ['deferred', 'started', 'succeeded'], `job ${id}`);
    t.is(run?.attempts, 0);
  }
  const pids = new Set(runs.map((run) => run.pid));
  t.true(pids.size >= 2, `several processes ran jobs: ${[...pids].join(', ')}`);
  t.log(`at most ${max} at once; jobs per process: ${[...pids].map((pid) => runs.filter((r) => r.pid === pid).length).join(', ')}`);
});

/**
 * Samples the doing rows of our queue from a connection of its own while 300 short jobs run in 3
 * processes: they never outnumber the slots. With `maxLocalTasks` a stop frees its slot to the
 * fleet rather than keeping it for a refill, so the job is written before the slot goes.
 */
async function doingRowsStayWithinSlots(t: ExecutionContext, extraEnv: Record<string, string>): Promise<void> {
  t.timeout(120_000);
  const { pool, schema } = await procrastinateDb(t);
  const { redis, ns, keyPrefix } = await redisNamespace(t);
  const slots = 4;
  const children = startWorkers(t, 3, {
    NS: ns,
    NAME: uniqueName('pp'),
    KEY_PREFIX: keyPrefix,
    SCHEMA: schema,
    SLOTS: String(slots),
    SLOT_TIMEOUT: '10s',
    PASS_MS: '20',
    ...extraEnv,
  });
  await ready(redis, ns, 3, children);

  // What Python tools and Procrastinate's admin read: sampled from a connection of its own, as
  // fast as it answers, until every job has ended.
  const sampler = await pool.connect();
  t.teardown(() => sampler.release());
  let sampling = true;
  const counts: number[] = [];
  const sampled = (async () => {
    while (sampling) {
      const { rows } = await sampler.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM procrastinate_jobs WHERE status = 'doing' AND queue_name = ANY($1)",
        [['node']],
      );
      counts.push(rows[0]!.n);
    }
  })();
  // In 30 batches, each deferred once the one before has run: the queue runs dry, the slots go
  // back, and the processes race for them when the next batch comes, so that several run jobs.
  const ids: string[] = [];
  try {
    for (let batch = 0; batch < 30; batch++) {
      const batchIds = await deferMany(
        pool,
        Array.from({ length: 10 }, (_, i) => ({ queue: 'node', task: 'node.work', args: { batch, i, ms: i % 4 } })),
      );
      ids.push(...batchIds);
      await waitStatus(pool, batchIds, 'succeeded', 30_000);
    }
  } finally {
    sampling = false;
  }
  await sampled;
  await finish(t, redis, ns, children);

  const max = Math.max(...counts);
  t.log(`${counts.length} samples, at most ${max} doing; handlers at once (Redis count): ${await redis.get(`${ns}:max`)}`);
  t.true(counts.length >= 100, `${counts.length} samples`);
  t.true(max <= slots, `at most ${slots} jobs doing in the table, sampled ${max}`);
  t.true(max >= 2, 'jobs ran side by side');
  const pids = new Set((await list<Run>(redis, `${ns}:runs`)).map((run) => run.pid));
  t.true(pids.size >= 2, `several processes ran jobs: ${pids.size}`);
  t.deepEqual(await redis.lrange(`${ns}:violations`, 0, -1), []);
  t.deepEqual(await redis.lrange(`${ns}:errors`, 0, -1), []);
}

test('sampled from SQL, the jobs doing on our queues never outnumber the slots while 300 short jobs run in 3 processes', async (t) => {
  await doingRowsStayWithinSlots(t, {});
});

test('with maxLocalTasks, stops free their slots to the fleet, and the doing rows still never outnumber the slots', async (t) => {
  await doingRowsStayWithinSlots(t, { MAX_LOCAL_TASKS: '2' });
});

test('kill -9 of a process mid-job: a survivor recovers its jobs exactly once after staleWorkerTimeout, then runs them', async (t) => {
  t.timeout(90_000);
  const { pool, schema } = await procrastinateDb(t);
  const { redis, ns, keyPrefix } = await redisNamespace(t);
  // Slots time out 2 s after the last keepalive: the dead process's slots come back by themselves.
  const env = { NS: ns, NAME: uniqueName('pp'), KEY_PREFIX: keyPrefix, SCHEMA: schema, SLOTS: '2', SLOT_TIMEOUT: '2s', PASS_MS: '200' };
  const [victim] = startWorkers(t, 1, { ...env, HANG: '1' });
  const [victimInfo] = await ready(redis, ns, 1, [victim!]);

  const ids = await deferMany(pool, [
    { queue: 'node', task: 'hang', args: { n: 1 } },
    { queue: 'node', task: 'hang', args: { n: 2 } },
  ]);
  await waitFor(async () => (await redis.llen(`${ns}:runs`)) >= 2, 'the victim to start both jobs', 30_000);
  for (const id of ids) t.like(await jobRow(pool, id), { status: 'doing', attempts: 0, worker_id: victimInfo!.workerId });
  victim!.kill('SIGKILL');
  await exited(victim!);
  const heartbeatOf = async (workerId: string) =>
    (await pool.query<{ last_heartbeat: Date }>('SELECT last_heartbeat FROM procrastinate_workers WHERE id = $1', [workerId])).rows[0]
      ?.last_heartbeat;
  const lastBeat = await heartbeatOf(victimInfo!.workerId);
  t.truthy(lastBeat);

  const [survivor] = startWorkers(t, 1, { ...env, SWEEP_MS: '1000', STALE_SECONDS: '20', RETRY: '1', HEARTBEAT_MS: '2000' });
  const survivorInfo = (await ready(redis, ns, 2, [survivor!]))[1]!;
  await waitStatus(pool, ids, 'succeeded', 60_000);
  const jobs = await jobsById(pool, ids);
  const victimBeatAfter = await heartbeatOf(victimInfo!.workerId);
  const retriedAt = (
    await pool.query<{ at: Date }>(
      "SELECT at FROM procrastinate_events WHERE job_id = ANY($1::bigint[]) AND type = 'deferred_for_retry' ORDER BY at",
      [ids],
    )
  ).rows.map((row) => row.at);
  await finish(t, redis, ns, [survivor!]);

  // The dead worker's row stays (nothing prunes it) and its heartbeat stopped at the kill.
  t.deepEqual(victimBeatAfter, lastBeat, 'the killed worker sent no heartbeat after the kill');
  // Recovered only once its heartbeat was staleWorkerTimeout old, by the database's clock.
  t.is(retriedAt.length, 2);
  for (const at of retriedAt)
    t.true(at.getTime() - lastBeat!.getTime() >= 20_000, `recovered ${at.getTime() - lastBeat!.getTime()} ms after the last heartbeat`);
  for (const id of ids) {
    // attempts: the stalled run counted by the retry, then the run that succeeded.
    t.like(jobs.get(id), { status: 'succeeded', attempts: 2, worker_id: survivorInfo.workerId }, `job ${id}`);
    t.deepEqual(jobs.get(id)?.events, ['deferred', 'started', 'scheduled', 'deferred_for_retry', 'started', 'succeeded'], `job ${id}`);
  }
  const runs = await list<Run>(redis, `${ns}:runs`);
  const describe = (r: Run) =>
    `${r.jobId}/${r.attempts}/${r.pid === victim!.pid ? 'victim' : r.pid === survivor!.pid ? 'survivor' : r.pid}`;
  t.deepEqual(runs.map(describe).sort(), ids.flatMap((id) => [`${id}/0/victim`, `${id}/1/survivor`]).sort());

  t.deepEqual(await redis.lrange(`${ns}:errors`, 0, -1), []);
  const log = await list<LogLine>(redis, `${ns}:log`);
  t.deepEqual(
    log.filter((line) => line.level === 'error'),
    [],
  );
  const recovered = log.filter((line) => line.message === 'recovered jobs of dead workers');
  t.true(recovered.every((line) => line.pid === survivor!.pid));
  t.deepEqual(recovered.flatMap((line) => line.retried as string[]).sort(), [...ids].sort(), 'each job recovered by one sweep');
  t.deepEqual(
    recovered.flatMap((line) => line.failed as string[]),
    [],
  );
  // The survivor reaped the dead process's two occupancies when their slots timed out.
  const timedOut = log.filter((line) => line.message === 'procrastinate job slot timed out');
  t.deepEqual(timedOut.map((line) => line.taskId).sort(), [...ids].sort());
  t.true(timedOut.every((line) => line.pid === survivor!.pid && line.runsHere === false));
});

test("a sweeper whose clock runs 10 minutes ahead retries a killed process's job when the database says it is due", async (t) => {
  t.timeout(90_000);
  const { pool, schema } = await procrastinateDb(t);
  const { redis, ns, keyPrefix } = await redisNamespace(t);
  const env = { NS: ns, NAME: uniqueName('pp'), KEY_PREFIX: keyPrefix, SCHEMA: schema, SLOTS: '1', SLOT_TIMEOUT: '2s', PASS_MS: '200' };
  const [victim] = startWorkers(t, 1, { ...env, HANG: '1' });
  const [victimInfo] = await ready(redis, ns, 1, [victim!]);
  const [id] = await deferMany(pool, [{ queue: 'node', task: 'hang', args: { n: 1 } }]);
  await waitFor(async () => (await redis.llen(`${ns}:runs`)) >= 1, 'the victim to start the job', 30_000);
  victim!.kill('SIGKILL');
  await exited(victim!);
  // Silent for a minute by the database's clock: the survivor's first sweep takes the job.
  await pool.query("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute' WHERE id = $1", [victimInfo!.workerId]);

  // `retry: 1` waits 0 s: the job is due as soon as it is retried, by the database's clock.
  const [survivor] = startWorkers(t, 1, {
    ...env,
    ...skewedClockEnv(10),
    SWEEP_MS: '500',
    STALE_SECONDS: '20',
    RETRY: '1',
    HEARTBEAT_MS: '2000',
  });
  await ready(redis, ns, 2, [survivor!]);
  await waitStatus(pool, [id!], 'succeeded', 30_000);
  const { rows } = await pool.query<{ type: string; at: Date }>(
    'SELECT type::text AS type, at FROM procrastinate_events WHERE job_id = $1 ORDER BY id',
    [id],
  );
  await finish(t, redis, ns, [survivor!]);

  const at = (type: string) => rows.find((row) => row.type === type)!.at.getTime();
  t.true(
    Math.abs(at('scheduled') - at('deferred_for_retry')) < 5000,
    `scheduled ${at('scheduled') - at('deferred_for_retry')} ms after the retry`,
  );
  t.deepEqual(await redis.lrange(`${ns}:errors`, 0, -1), []);
});

/** Python's select_stalled_jobs_by_heartbeat (JobManager.get_stalled_jobs), for queue `node`. */
const stalledJobs = `WITH stalled_workers AS (
    SELECT id FROM procrastinate_workers WHERE last_heartbeat < now() - ($1 || ' SECOND')::interval
  )
  SELECT job.id FROM procrastinate_jobs job
  LEFT JOIN stalled_workers sw ON sw.id = job.worker_id
  WHERE job.status = 'doing' AND job.queue_name = 'node' AND (job.worker_id IS NULL OR sw.id IS NOT NULL)`;

test('kill -9 mid-job, Python requeues the stalled job, a new process of the same name starts: it waits for the dead occupancy, then runs once, with no hand-back loop', async (t) => {
  t.timeout(90_000);
  const { pool, schema } = await procrastinateDb(t);
  const { redis, ns, keyPrefix } = await redisNamespace(t);
  // A slot times out 3 s after its last keepalive. Two slots, so that the new process has an idle
  // one to claim the job for while the dead process's occupancy holds its id.
  const env = { NS: ns, NAME: uniqueName('pp'), KEY_PREFIX: keyPrefix, SCHEMA: schema, SLOTS: '2', SLOT_TIMEOUT: '3s', PASS_MS: '50' };
  const [victim] = startWorkers(t, 1, { ...env, HANG: '1' });
  await ready(redis, ns, 1, [victim!]);
  const [id] = await deferMany(pool, [{ queue: 'node', task: 'hang' }]);
  await waitFor(async () => (await redis.llen(`${ns}:runs`)) >= 1, 'the victim to start the job', 30_000);
  victim!.kill('SIGKILL');
  await exited(victim!);
  // The dead occupancy is kept alive from here (keepalives work from any process) until the new
  // process has found the id held at least once: however slowly that process starts on a busy
  // machine, it meets the occupancy, as it would with a longer slot timeout.
  const keeper = new Scheduler({ name: env.NAME, redis: redisUrl, keyPrefix });
  t.teardown(() => keeper.close());
  const keptAlive = await keeper.keepalive(id!);
  t.true(keptAlive.ok, 'the dead occupancy still holds the job');
  let keeping = true;
  const keeping$ = (async () => {
    while (keeping) {
      await keeper.keepalive(id!);
      await sleep(300);
    }
  })();

  // Upstream's recipe: get_stalled_jobs, then retry_job on each (the threshold is 1 s here, not
  // 30, to keep the test short). The retry counts the killed run: attempts 1.
  let stalled: string[] = [];
  await waitFor(
    async () => (stalled = (await pool.query<{ id: string }>(stalledJobs, [1])).rows.map((row) => row.id)).length > 0,
    'the job to look stalled',
    30_000,
  );
  t.deepEqual(stalled, [id]);
  for (const stalledId of stalled) await pool.query(q.retry, [stalledId, new Date(), null, null, null]);
  t.like(await jobRow(pool, id!), { status: 'todo', attempts: 1 });

  const [survivor] = startWorkers(t, 1, env);
  await ready(redis, ns, 2, [survivor!]);
  const refused = async () =>
    (await list<LogLine>(redis, `${ns}:log`)).some((line) => line.message === 'claimed job handed back to the queue');
  await waitFor(refused, 'the new process to find the job held by the dead occupancy', 30_000).finally(() => (keeping = false));
  await keeping$;
  await waitStatus(pool, [id!], 'succeeded', 60_000);
  const job = (await jobsById(pool, [id!])).get(id!)!;
  await finish(t, redis, ns, [survivor!]);

  // The killed run (counted by the recipe's retry), then the run that succeeded: the hand-backs
  // while the dead occupancy held the id counted nothing.
  t.is(job.attempts, 2);
  const runs = await list<Run>(redis, `${ns}:runs`);
  t.deepEqual(
    runs.map((r) => `${r.attempts}/${r.pid === victim!.pid ? 'victim' : 'survivor'}`),
    ['0/victim', '1/survivor'],
  );
  // No storm in the history: each hand-back is one started, scheduled and deferred_for_retry,
  // and the backoff (1 s, 2 s, 4 s…) allows a few while the dead occupancy lasts (≤ 3 s after
  // the last keepalive).
  const handBacks = job.events.filter((type) => type === 'deferred_for_retry').length - 1;
  t.log(`${handBacks} hand-backs, ${job.events.length} events: ${job.events.join(' ')}`);
  t.true(handBacks >= 1 && handBacks <= 4, `${handBacks} hand-backs`);
  t.true(job.events.length <= 6 + 3 * 4 + 2, `${job.events.length} events`);
  const log = await list<LogLine>(redis, `${ns}:log`);
  const handedBack = log.filter((line) => line.message === 'claimed job handed back to the queue');
  t.is(handedBack.length, handBacks);
  t.true(handedBack.every((line) => line.reason === 'duplicate' && (line.delayMs as number) >= 1000));
  // It ran once the survivor had reaped the dead occupancy (the store refuses the id before).
  const timedOut = log.filter((line) => line.message === 'procrastinate job slot timed out');
  t.deepEqual(
    timedOut.map((line) => [line.taskId, line.pid, line.runsHere]),
    [[id, survivor!.pid, false]],
  );
  t.deepEqual(
    log.filter((line) => line.level === 'error'),
    [],
  );
  t.deepEqual(await redis.lrange(`${ns}:errors`, 0, -1), []);
});

test('a Python-style worker on queue python beside a Node process on queue node: neither disturbs the other', async (t) => {
  t.timeout(90_000);
  const { pool, schema } = await procrastinateDb(t);
  const { redis, ns, keyPrefix } = await redisNamespace(t);

  // The Python worker: prunes at start as Python does, registers, heartbeats.
  await pool.query(q.prune, [30]);
  const pyWorker = await registerWorker(pool);
  const heartbeat = setInterval(() => void pool.query(q.heartbeat, [pyWorker]).catch(() => {}), 1000);
  t.teardown(() => clearInterval(heartbeat));
  // A dead Python worker holding a job of queue python: stalled, but not Node's to recover.
  const deadPy = await registerWorker(pool);
  const [stalled] = await deferMany(pool, [{ queue: 'python', task: 'pyapp.tasks.stalled' }]);
  t.is((await fetchJob(pool, ['python'], deadPy)).id, stalled);
  await pool.query("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 minute' WHERE id = $1", [deadPy]);

  // The Node process sweeps often, with the smallest staleness allowed.
  const [child] = startWorkers(t, 1, {
    NS: ns,
    NAME: uniqueName('pp'),
    KEY_PREFIX: keyPrefix,
    SCHEMA: schema,
    SLOTS: '3',
    SLOT_TIMEOUT: '10s',
    PASS_MS: '50',
    SWEEP_MS: '300',
    STALE_SECONDS: '20',
    HEARTBEAT_MS: '1000',
  });
  const [nodeInfo] = await ready(redis, ns, 1, [child!]);
  const startedAt = Date.now();

  // Both queues in one batch, interleaved, as an app deferring to both would.
  const ids = await deferMany(
    pool,
    Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0
        ? { queue: 'node', task: 'node.work', args: { i, ms: 10 + (i % 20) } }
        : { queue: 'python', task: 'pyapp.tasks.work', args: { i } },
    ),
  );
  const nodeIds = ids.filter((_, i) => i % 2 === 0);
  const pythonIds = ids.filter((_, i) => i % 2 === 1);

  // The Python worker's loop: fetch one job of its queue with the exact statement, run it, finish it.
  const fetchedByPython: string[] = [];
  let stopPython = false;
  t.teardown(() => {
    stopPython = true;
  });
  const pythonLoop = (async () => {
    while (!stopPython) {
      const job = await fetchJob(pool, ['python'], pyWorker);
      if (job.id === null) {
        // Done once none is left to claim (all ours, or, if Node took some, the checks below say so).
        const left = await pool.query("SELECT 1 FROM procrastinate_jobs WHERE id = ANY($1::bigint[]) AND status = 'todo'", [pythonIds]);
        if (left.rowCount === 0) break;
        await sleep(20);
        continue;
      }
      fetchedByPython.push(job.id);
      await sleep(5 + Math.floor(Math.random() * 15));
      await pool.query(q.finish, [job.id, 'succeeded', false]);
    }
  })();

  await Promise.all([pythonLoop, waitStatus(pool, nodeIds, 'succeeded', 60_000)]);
  await waitStatus(pool, pythonIds, 'succeeded', 10_000);
  // Let the Node sweeper run several times while the dead Python worker's job looks stalled.
  await sleep(Math.max(0, startedAt + 3000 - Date.now()));
  const jobs = await jobsById(pool, [...ids, stalled!]);
  const workers = async () =>
    (await pool.query<{ id: string }>('SELECT id FROM procrastinate_workers ORDER BY id')).rows.map((row) => row.id);
  const workersWhileRunning = await workers();
  const pyBeat = (
    await pool.query<{ age: number }>(
      'SELECT extract(epoch FROM now() - last_heartbeat)::float8 AS age FROM procrastinate_workers WHERE id = $1',
      [pyWorker],
    )
  ).rows[0]?.age;
  await finish(t, redis, ns, [child!]);

  t.deepEqual([...fetchedByPython].sort(), [...pythonIds].sort(), 'the Python worker ran every python job, once');
  for (const id of pythonIds) {
    t.like(jobs.get(id), { status: 'succeeded', attempts: 1, worker_id: pyWorker, task_name: 'pyapp.tasks.work' }, `python job ${id}`);
    t.deepEqual(jobs.get(id)?.events, ['deferred', 'started', 'succeeded'], `python job ${id}`);
  }
  for (const id of nodeIds) {
    t.like(jobs.get(id), { status: 'succeeded', attempts: 1, worker_id: nodeInfo!.workerId }, `node job ${id}`);
    t.deepEqual(jobs.get(id)?.events, ['deferred', 'started', 'succeeded'], `node job ${id}`);
  }
  // The Node side ran only its own jobs, failed none, and left the stalled python job alone.
  const runs = await list<Run>(redis, `${ns}:runs`);
  t.deepEqual(runs.map((run) => run.jobId).sort(), [...nodeIds].sort(), 'Node ran every node job once, and nothing else');
  t.like(jobs.get(stalled!), { status: 'doing', attempts: 0, worker_id: deadPy });
  t.deepEqual(jobs.get(stalled!)?.events, ['deferred', 'started']);
  t.is(Number((await pool.query("SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'failed'")).rows[0]!.n), 0);
  // Node neither deleted nor pruned Python's worker rows (ids never come back once deleted);
  // the Python worker's heartbeat kept it fresh; at close, Node removed only its own row.
  t.deepEqual(
    workersWhileRunning,
    [pyWorker, deadPy, nodeInfo!.workerId].sort((a, b) => Number(a) - Number(b)),
  );
  t.true(pyBeat !== undefined && pyBeat < 5, `the Python worker's heartbeat is fresh (${pyBeat} s)`);
  t.deepEqual(
    await workers(),
    [pyWorker, deadPy].sort((a, b) => Number(a) - Number(b)),
  );
  t.is((await jobRow(pool, pythonIds[0]!))?.worker_id, pyWorker, "Node's unregister nulled only its own jobs");
  t.deepEqual(await redis.lrange(`${ns}:errors`, 0, -1), []);
  t.deepEqual(
    (await list<LogLine>(redis, `${ns}:log`)).filter((line) => line.level === 'error'),
    [],
  );

  // Python's own tooling recovers its stalled job (retry_job, as upstream's how-to), and a Python
  // worker runs it: every job ends succeeded.
  await pool.query(q.retry, [stalled, new Date(), null, null, null]);
  t.is((await fetchJob(pool, ['python'], pyWorker)).id, stalled);
  await pool.query(q.finish, [stalled, 'succeeded', false]);
  t.like(await jobRow(pool, stalled!), { status: 'succeeded', attempts: 2 });
  t.is(Number((await pool.query("SELECT count(*) AS n FROM procrastinate_jobs WHERE status <> 'succeeded'")).rows[0]!.n), 0);
  clearInterval(heartbeat);
  await pool.query(q.unregister, [pyWorker]);
});
