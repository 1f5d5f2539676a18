/**
 * A scheduler process whose wall clock is minutes off (libfaketime): what it stamps itself must
 * still read on the store's clock. The end of a task whose occupancy Redis lost is the one record
 * the store cannot stamp (it keeps no end of it): its `endedAt` must not fall minutes before the
 * task's own `startedAt`, nor minutes away from the store's time.
 */
import test from 'ava';
import { skewedClockEnv } from '../helpers/libfaketime.js';
import { uniqueName } from '../helpers/services.js';
import { exited, fleetNamespace, records, startWorkers, waitFor } from '../helpers/worker-fleet.js';

test("a process 7 minutes behind stamps a lost task's end on the store's clock", async (t) => {
  t.timeout(60_000);
  const { redis, ns } = await fleetNamespace(t);
  const [name, keyPrefix] = [uniqueName('skew'), uniqueName('skew')];
  t.teardown(async () => {
    const keys = await redis.keys(`{${keyPrefix}:${name}}:*`);
    if (keys.length) await redis.del(...keys);
  });
  // HANG: the task keeps alive every quarter timeout and never stops; its keepalive learns the loss.
  const [child] = startWorkers(t, 1, {
    KIND: 'redis',
    NAME: name,
    NS: ns,
    SLOTS: '1',
    KEY_PREFIX: keyPrefix,
    TIMEOUT: '2s',
    HANG: '1',
    ...skewedClockEnv(-7),
  });
  await redis.rpush(`${ns}:queue`, 'task-1');
  await waitFor(async () => (await redis.llen(`${ns}:starts`)) === 1, 'the task to start', 20_000);

  // The store loses its state: only this scheduler's keys, as a restart without persistence would.
  const keys = await redis.keys(`{${keyPrefix}:${name}}:*`);
  await redis.del(...keys);
  await waitFor(async () => (await redis.llen(`${ns}:stops`)) === 1, 'the lost end', 20_000);
  const [storeSeconds, micros] = (await redis.time()).map(Number) as [number, number];
  const storeNow = storeSeconds * 1000 + Math.floor(micros / 1000);
  // Its HANG task's keepalive timer never ends: the process is killed rather than closed.
  child!.kill('SIGKILL');
  await exited(child!);

  const [stop] = await records(redis, `${ns}:stops`);
  t.is(stop!.reason, 'lost');
  // The process's own clock reads 7 minutes earlier than the store's: none of that may show.
  t.true(stop!.at < storeNow - 6 * 60_000, `the worker's clock was skewed (it recorded ${stop!.at}, the store reads ${storeNow})`);
  t.true(stop!.endedAt! >= stop!.startedAt!, `endedAt ${stop!.endedAt} precedes startedAt ${stop!.startedAt}`);
  t.true(
    Math.abs(stop!.endedAt! - storeNow) < 10_000,
    `endedAt ${stop!.endedAt} is ${stop!.endedAt! - storeNow} ms from the store's clock`,
  );
});
