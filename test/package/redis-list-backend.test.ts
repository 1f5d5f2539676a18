/**
 * The examples' RedisListBackend on real Redis slots: its poll takes ids off the list for good,
 * so every id polled and not started must go back, and every id pushed must run once.
 */
import test from 'ava';
import type { Redis } from 'ioredis';
import { RedisListBackend } from '../../examples/lib/redis-list-backend.js';
import { Scheduler, type TaskContext } from '../../src/index.js';
import { errorsOnlyLogger } from '../helpers/errors-only-logger.js';
import { connectRedis, redisUrl, uniqueName } from '../helpers/services.js';

/** Remembers what it was given to start; `stops` says whether each task stops itself at once. */
class Recording extends RedisListBackend {
  readonly started: string[] = [];
  /** What each stop came back with: `stopped`, or what it rejected with. */
  readonly stopOutcomes: string[] = [];
  constructor(
    queue: string,
    private readonly stops: boolean,
  ) {
    super(redisUrl, queue);
  }
  protected launch(taskId: string, task: TaskContext): void {
    this.started.push(taskId);
    if (this.stops) {
      setImmediate(
        () =>
          void task.stop().then(
            () => this.stopOutcomes.push('stopped'),
            (error: unknown) => this.stopOutcomes.push(String(error)),
          ),
      );
    }
  }
}

async function setUp(t: { teardown(fn: () => Promise<void>): void }, slots: number, stops: boolean, schedulers = 1) {
  const redis = await connectRedis();
  const name = uniqueName('list');
  const queue = `${name}:queue`;
  const fleet = await Promise.all(
    Array.from({ length: schedulers }, async () => {
      const backend = new Recording(queue, stops);
      const scheduler = new Scheduler({ name, redis: redisUrl, timeout: '1m', logger: errorsOnlyLogger() });
      scheduler.registerBackend('list', backend);
      await scheduler.load(Array.from({ length: slots }, (_, i) => ({ slotId: i + 1, backends: ['list'] })));
      return { scheduler, backend };
    }),
  );
  t.teardown(async () => {
    await Promise.all(fleet.map(({ scheduler }) => scheduler.close()));
    await cleanUp(redis, name, queue);
    redis.disconnect();
  });
  return { redis, queue, fleet };
}

async function cleanUp(redis: Redis, name: string, queue: string) {
  const keys = [...(await redis.keys(`{task-semaphore:${name}}*`)), queue, `${queue}:invalid`];
  await redis.del(...keys);
}

test('a pass takes one id per idle slot off the list, in list order', async (t) => {
  const { redis, queue, fleet } = await setUp(t, 3, false);
  const [{ scheduler, backend }] = fleet as [(typeof fleet)[0]];
  await redis.rpush(queue, 'a', 'b', 'c', 'd');
  const report = await scheduler.schedule();
  t.is(report.started, 3);
  t.deepEqual(backend.started, ['a', 'b', 'c']);
  t.deepEqual(await redis.lrange(queue, 0, -1), ['d']);
});

test('an id that runs already goes back on the list, behind the others', async (t) => {
  const { redis, queue, fleet } = await setUp(t, 2, false);
  const [{ scheduler, backend }] = fleet as [(typeof fleet)[0]];
  await redis.rpush(queue, 'a', 'a');
  const rejected: string[] = [];
  scheduler.on('task:reject', ({ taskId, reason }) => rejected.push(`${taskId} ${reason}`));
  await scheduler.schedule();
  t.deepEqual(backend.started, ['a']);
  t.deepEqual(rejected, ['a duplicate']);
  t.deepEqual(await redis.lrange(queue, 0, -1), ['a']);
});

test('an id outside the task-id grammar is moved aside to <queue>:invalid, not lost or offered again', async (t) => {
  const { redis, queue, fleet } = await setUp(t, 2, false);
  const [{ scheduler, backend }] = fleet as [(typeof fleet)[0]];
  await redis.rpush(queue, 'bad\u0000id', 'good');
  // The pass polls the list no more after an invalid id: the next pass takes the good one.
  await scheduler.schedule();
  t.deepEqual(await redis.lrange(`${queue}:invalid`, 0, -1), ['bad\u0000id']);
  t.deepEqual(await redis.lrange(queue, 0, -1), ['good']);
  await scheduler.schedule();
  t.deepEqual(backend.started, ['good']);
  t.deepEqual(await redis.lrange(queue, 0, -1), []);
});

test('two schedulers drain 300 ids through 4 shared slots: each runs once, none is lost', async (t) => {
  const { redis, queue, fleet } = await setUp(t, 4, true, 2);
  const ids = Array.from({ length: 300 }, (_, i) => `job-${i}`);
  await redis.rpush(queue, ...ids);
  const started = () => fleet.flatMap(({ backend }) => backend.started);
  const stops = () => fleet.flatMap(({ backend }) => backend.stopOutcomes);
  for (const { scheduler } of fleet) scheduler.start({ cron: '*/1 * * * * *' });
  const deadline = Date.now() + 30_000;
  while (stops().length < ids.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  t.deepEqual([...started()].sort(), [...ids].sort());
  t.deepEqual(
    stops().filter((outcome) => outcome !== 'stopped'),
    [],
  );
  t.is(stops().length, ids.length, 'every stop came back');
  t.is(await redis.llen(queue), 0);
});
