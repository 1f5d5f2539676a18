/**
 * Several scheduler processes on one Redis, and on one PostgreSQL, racing for the same slots and
 * the same task ids. Concurrency is counted independently of the slot store (see worker-process).
 */
import test from 'ava';
import { connectPostgres, freshSchema, uniqueName } from '../helpers/services.js';
import { exited, fleetNamespace as setup, records, startWorkers, waitFor } from '../helpers/worker-fleet.js';

async function storeEnv(kind: 'redis' | 'postgres'): Promise<Record<string, string>> {
  if (kind === 'redis') return { KIND: 'redis', KEY_PREFIX: uniqueName('mp') };
  const pool = await connectPostgres();
  const schema = await freshSchema(pool);
  await pool.end();
  return { KIND: 'postgres', SCHEMA: schema };
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
    // Exactly one stop per occupancy, and more than one process did the work.
    t.is(new Set(stops.map((s) => `${s.taskId}/${s.token}`)).size, stops.length);
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
}
