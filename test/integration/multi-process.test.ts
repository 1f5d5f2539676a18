/**
 * Several scheduler processes on one Redis, and on one PostgreSQL, racing for the same slots and
 * the same task ids. Concurrency is counted independently of the slot store (see worker-process).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { connectPostgres, connectRedis, freshSchema, uniqueName } from '../helpers/services.js';

const workerScript = fileURLToPath(new URL('../helpers/worker-process.js', import.meta.url));

interface Entry {
  taskId: string;
  token: number;
  reason?: string;
  redelivered?: boolean;
  pid: number;
}

async function storeEnv(kind: 'redis' | 'postgres'): Promise<Record<string, string>> {
  if (kind === 'redis') return { KIND: 'redis', KEY_PREFIX: uniqueName('mp') };
  const pool = await connectPostgres();
  const schema = await freshSchema(pool);
  await pool.end();
  return { KIND: 'postgres', SCHEMA: schema };
}

function startWorkers(t: ExecutionContext, count: number, env: Record<string, string>): ChildProcess[] {
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, [workerScript], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] }),
  );
  t.teardown(() => children.forEach((child) => child.exitCode === null && child.kill('SIGKILL')));
  return children;
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)));

async function waitFor(check: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const records = async (redis: Redis, key: string): Promise<Entry[]> =>
  (await redis.lrange(key, 0, -1)).map((line) => JSON.parse(line) as Entry);

/** How many ended records the store of the workers' `env` still holds in its delivery log (leased, unacknowledged). */
async function pendingDeliveries(redis: Redis, env: Record<string, string>): Promise<number> {
  if (env.KIND === 'redis') return redis.hlen(`{${env.KEY_PREFIX}:${env.NAME}}:deliveries`);
  const pool = await connectPostgres();
  try {
    const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${env.SCHEMA}.task_semaphore_deliveries WHERE scheduler = $1`, [env.NAME]);
    return Number(rows[0]!.n);
  } finally {
    await pool.end();
  }
}

async function setup(t: ExecutionContext) {
  const redis = await connectRedis();
  const ns = uniqueName('mp');
  t.teardown(async () => {
    const keys = await redis.keys(`${ns}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  return { redis, ns };
}

for (const kind of ['redis', 'postgres'] as const) {
  test(`${kind}: 4 processes × 5 slots never run more than 5 tasks, nor one task id twice at once`, async (t) => {
    const { redis, ns } = await setup(t);
    const ids = Array.from({ length: 150 }, (_, i) => `job-${i}`);
    // Every id twice, interleaved, so that racing schedulers often poll an id that is running elsewhere.
    await redis.rpush(`${ns}:queue`, ...ids.flatMap((id) => [id, id]));
    // A process refills the slots it frees: the cap makes the 4 processes share the 5 slots.
    const env = { ...(await storeEnv(kind)), NS: ns, NAME: uniqueName('mp'), SLOTS: '5', TIMEOUT: '30s', MAX_LOCAL_TASKS: '2' };
    const children = startWorkers(t, 4, env);

    await waitFor(async () => (await redis.llen(`${ns}:stops`)) >= ids.length * 2, 'every task to stop', 60_000);
    await redis.set(`${ns}:done`, '1');
    t.deepEqual(await Promise.all(children.map(exited)), [0, 0, 0, 0]);

    t.deepEqual(await redis.lrange(`${ns}:violations`, 0, -1), []);
    t.deepEqual(await redis.lrange(`${ns}:errors`, 0, -1), []);
    const max = Number(await redis.get(`${ns}:max`));
    t.true(max >= 1 && max <= 5, `at most 5 tasks at once, counted ${max}`);
    const stops = await records(redis, `${ns}:stops`);
    t.is(stops.length, ids.length * 2);
    t.true(stops.every((s) => s.reason === 'stopped'));
    // Exactly one stop per occupancy, none of them a redelivery, and every one acknowledged.
    t.is(new Set(stops.map((s) => `${s.taskId}/${s.token}`)).size, stops.length);
    t.deepEqual(stops.filter((s) => s.redelivered), []);
    t.is(await pendingDeliveries(redis, env), 0, 'the delivery log is empty');
    // More than one process did the work.
    const starts = await records(redis, `${ns}:starts`);
    t.true(new Set(starts.map((s) => s.pid)).size > 1, 'work spread over several processes');
  });

  test(`${kind}: kill -9 of a process mid-task: its tasks time out once, elsewhere, and the queue drains`, async (t) => {
    const { redis, ns } = await setup(t);
    const ids = Array.from({ length: 40 }, (_, i) => `job-${i}`);
    const env = { ...(await storeEnv(kind)), NS: ns, NAME: uniqueName('mp'), SLOTS: '3', TIMEOUT: '1s' };
    // The victim starts first and takes tasks it never finishes.
    const [victim] = startWorkers(t, 1, { ...env, HANG: '1' });
    await waitFor(async () => (await redis.llen(`${ns}:ready`)) === 1, 'the victim to load', 20_000);
    await redis.rpush(`${ns}:queue`, ...ids);
    await waitFor(async () => (await redis.llen(`${ns}:starts`)) >= 3, 'the victim to start 3 tasks', 20_000);
    victim!.kill('SIGKILL');
    await exited(victim!);
    const victimStarts = await records(redis, `${ns}:starts`);
    t.is(victimStarts.length, 3);

    const survivors = startWorkers(t, 2, env);
    await waitFor(async () => (await redis.llen(`${ns}:stops`)) >= ids.length, 'every task to end', 60_000);
    await redis.set(`${ns}:done`, '1');
    t.deepEqual(await Promise.all(survivors.map(exited)), [0, 0]);

    const stops = await records(redis, `${ns}:stops`);
    t.is(stops.length, ids.length);
    for (const started of victimStarts) {
      const ends = stops.filter((s) => s.taskId === started.taskId && s.token === started.token);
      t.is(ends.length, 1, `${started.taskId} ended once`);
      t.is(ends[0]?.reason, 'timeout');
      t.not(ends[0]?.pid, victim!.pid);
    }
    t.is(stops.filter((s) => s.reason === 'stopped').length, ids.length - 3);
  });

  test(`${kind}: kill -9 between the store's end and its stopCallback: another process runs that stopCallback once, same token`, async (t) => {
    const { redis, ns } = await setup(t);
    // A short delivery lease, so that the survivor takes the victim's record within seconds.
    const env = { ...(await storeEnv(kind)), NS: ns, NAME: uniqueName('mp'), SLOTS: '1', TIMEOUT: '30s', CALLBACK_TIMEOUT: '1s', DELIVERY_LEASE: '3s' };
    const [victim] = startWorkers(t, 1, { ...env, STALL_IN_STOP: '1' });
    await waitFor(async () => (await redis.llen(`${ns}:ready`)) === 1, 'the victim to load', 20_000);
    await redis.rpush(`${ns}:queue`, 'job-0');
    // Its task stopped; the store ended the occupancy; its stopCallback began and blocks.
    await waitFor(async () => (await redis.llen(`${ns}:stalled`)) === 1, 'the victim to enter stopCallback', 20_000);
    victim!.kill('SIGKILL');
    await exited(victim!);
    const [stalled] = await records(redis, `${ns}:stalled`);
    t.like(stalled, { taskId: 'job-0', reason: 'stopped', redelivered: false, pid: victim!.pid });
    t.deepEqual(await redis.lrange(`${ns}:stops`, 0, -1), [], 'the victim completed no stopCallback');

    const ids = Array.from({ length: 10 }, (_, i) => `job-${i + 1}`);
    await redis.rpush(`${ns}:queue`, ...ids);
    const [survivor] = startWorkers(t, 1, env);
    await waitFor(async () => (await redis.llen(`${ns}:stops`)) >= ids.length + 1, 'every stopCallback', 30_000);
    await redis.set(`${ns}:done`, '1');
    t.is(await exited(survivor!), 0);

    const stops = await records(redis, `${ns}:stops`);
    t.deepEqual(
      stops.filter((s) => s.taskId === 'job-0'),
      [{ taskId: 'job-0', token: stalled!.token, reason: 'stopped', redelivered: true, pid: survivor!.pid }],
      "the victim's end, delivered once more, by the survivor, with its token",
    );
    t.is(stops.length, ids.length + 1, 'one stopCallback per occupancy');
    t.true(stops.filter((s) => s.taskId !== 'job-0').every((s) => !s.redelivered));
    t.is(await pendingDeliveries(redis, env), 0, 'every delivery acknowledged');
  });
}
