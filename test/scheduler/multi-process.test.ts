/**
 * Several scheduler processes on one Redis, and on one PostgreSQL, racing for the same slots and
 * the same task ids. Concurrency is counted independently of the slot store (see worker-process).
 */
import test from 'ava';
import type { Redis } from 'ioredis';
import { connectPostgres, freshSchema, uniqueName } from '../helpers/services.js';
import { exited, fleetNamespace as setup, records, startWorkers, waitFor } from '../helpers/worker-fleet.js';

async function storeEnv(kind: 'redis' | 'postgres'): Promise<Record<string, string>> {
  if (kind === 'redis') return { KIND: 'redis', KEY_PREFIX: uniqueName('mp') };
  const pool = await connectPostgres();
  const schema = await freshSchema(pool);
  await pool.end();
  return { KIND: 'postgres', SCHEMA: schema };
}

/** How many ended records the store of the workers' `env` still holds in its delivery log (leased, unacknowledged). */
async function pendingDeliveries(redis: Redis, env: Record<string, string>): Promise<number> {
  if (env.KIND === 'redis') return redis.hlen(`{${env.KEY_PREFIX}:${env.NAME}}:deliveries`);
  const pool = await connectPostgres();
  try {
    const { rows } = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${env.SCHEMA}.task_semaphore_deliveries WHERE scheduler = $1`,
      [env.NAME],
    );
    return Number(rows[0]!.n);
  } finally {
    await pool.end();
  }
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
    t.deepEqual(
      stops.filter((s) => s.redelivered),
      [],
    );
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
    const env = {
      ...(await storeEnv(kind)),
      NS: ns,
      NAME: uniqueName('mp'),
      SLOTS: '1',
      TIMEOUT: '30s',
      CALLBACK_TIMEOUT: '1s',
      DELIVERY_LEASE: '3s',
    };
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
      stops
        .filter((s) => s.taskId === 'job-0')
        .map(({ taskId, token, reason, redelivered, pid }) => ({ taskId, token, reason, redelivered, pid })),
      [{ taskId: 'job-0', token: stalled!.token, reason: 'stopped', redelivered: true, pid: survivor!.pid }],
      "the victim's end, delivered once more, by the survivor, with its token",
    );
    t.is(stops.length, ids.length + 1, 'one stopCallback per occupancy');
    t.true(stops.filter((s) => s.taskId !== 'job-0').every((s) => !s.redelivered));
    t.is(await pendingDeliveries(redis, env), 0, 'every delivery acknowledged');
  });
}

for (const kind of ['redis', 'postgres'] as const) {
  test(`${kind}: after a kill -9, a slot reaped by a process at its cap is refilled at once by the process with room, in its first pass after the reap`, async (t) => {
    const { redis, ns } = await setup(t);
    await redis.rpush(`${ns}:queue`, ...Array.from({ length: 20 }, (_, i) => `job-${i}`));
    // 3 slots, at most 1 task a process: the victim holds one, two busy processes the others.
    const env = { ...(await storeEnv(kind)), NS: ns, NAME: uniqueName('mp'), SLOTS: '3', TIMEOUT: '1s', MAX_LOCAL_TASKS: '1' };
    const [victim] = startWorkers(t, 1, { ...env, HANG: '1' });
    await waitFor(async () => (await redis.llen(`${ns}:starts`)) === 1, 'the victim to start a task', 20_000);
    // The busy processes pass on the same one-second tick, at their cap: they reap the victim's
    // slot and cannot refill it.
    startWorkers(t, 2, { ...env, CRON: '*/1 * * * * *', TASK_MS: '60000' });
    await waitFor(async () => (await redis.llen(`${ns}:starts`)) === 3, 'the busy processes to start a task each', 20_000);
    // The process with room ticks once a day: only the news of the reap, or its own reap timer, makes it pass.
    const [spare] = startWorkers(t, 1, { ...env, CRON: '0 0 * * *', TASK_MS: '60000', RECORD_PASSES: '1' });
    await waitFor(async () => (await redis.llen(`${ns}:ready`)) === 4, 'the process with room to load', 20_000);
    const [hung] = await records(redis, `${ns}:starts`);
    victim!.kill('SIGKILL');
    await exited(victim!);

    await waitFor(
      async () => (await records(redis, `${ns}:starts`)).some((s) => s.pid === spare!.pid),
      'the reaped slot to be refilled',
      20_000,
    );
    // The record of the pass that refilled comes once it ends.
    await waitFor(
      async () => (await redis.lrange(`${ns}:passes`, 0, -1)).some((line) => JSON.parse(line).started > 0),
      'the refilling pass to end',
      10_000,
    );
    // The reaper runs the stopCallback after its end; the refill, in another process, may come first.
    await waitFor(
      async () => (await records(redis, `${ns}:stops`)).some((s) => s.taskId === hung!.taskId),
      'the reap to be delivered',
      10_000,
    );
    await redis.set(`${ns}:done`, '1');
    const reap = (await records(redis, `${ns}:stops`)).find((s) => s.taskId === hung!.taskId)!;
    // Reaped by a busy process at its tick (which announces it), or by the process with room
    // itself, whose passes look again when the first occupancy of another process can be reaped.
    t.is(reap.reason, 'timeout');
    t.not(reap.pid, victim!.pid);
    const refill = (await records(redis, `${ns}:starts`)).find((s) => s.pid === spare!.pid)!;
    t.is(refill.slotId, hung!.slotId);
    // The passes of the process with room, by when they began: the one that refilled, and none that missed the slot after the reap.
    const passes = (await redis.lrange(`${ns}:passes`, 0, -1))
      .map((line) => JSON.parse(line) as { at: number; durationMs: number; started: number })
      .map((p) => ({ ...p, began: p.at - p.durationMs }));
    const refilling = passes.find((p) => p.began <= refill.at && refill.at <= p.at && p.started > 0);
    t.truthy(refilling, 'refilled by a pass');
    t.deepEqual(
      passes.filter((p) => p.began > reap.at && p.at < refilling!.began),
      [],
      'passes of the process with room that began after the reap and left the slot idle',
    );
    t.log(`refilled ${refill.at - reap.at} ms after the reap`);
  });
}
