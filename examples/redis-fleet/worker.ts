// examples/redis-fleet/worker.ts: one scheduler process of the fleet. Run several: they share
// 4 Redis slots, so at most 4 reports run at once across all of them.
import { Redis } from 'ioredis';
import { Scheduler, Backend, type TaskContext, type StopOutcome } from 'task-semaphore';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const queue = process.env.QUEUE ?? 'example:reports';
const redis = new Redis(redisUrl);

/** Report ids wait in a Redis list; LPOP claims one, so no two processes take the same. */
class Reports extends Backend {
  async poll() {
    return redis.lpop(`${queue}:todo`);
  }

  async startCallback(taskId: string, task: TaskContext) {
    const now = await redis.incr(`${queue}:running`);
    await redis.eval(
      "if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then redis.call('SET', KEYS[1], ARGV[1]) end",
      1,
      `${queue}:max`,
      now,
    );
    console.log(`[${process.pid}] start ${taskId} in slot ${task.slotId} (token ${task.token})`);
    void runReport(task);
  }

  // A task this process could not start (a slot race): put it back.
  override async rejectCallback(taskId: string) {
    await redis.rpush(`${queue}:todo`, taskId);
  }

  override async stopCallback(taskId: string, outcome: StopOutcome) {
    await redis.rpush(`${queue}:done`, `${taskId}:${outcome.reason}`);
  }
}

/** The "report": some work with keepalives; it ends with stop(), which refills the slot at once. */
async function runReport(task: TaskContext) {
  for (let step = 0; step < 3; step++) {
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
    const alive = await task.keepalive();
    if (!alive.ok || alive.cancelRequested) return; // lost the slot, or asked to stop
  }
  await redis.decr(`${queue}:running`);
  await task.stop({ status: 'succeeded' });
}

const scheduler = new Scheduler({ name: `${queue}:fleet`, redis: redisUrl });
scheduler.registerBackend('Reports', Reports);
await scheduler.load([1, 2, 3, 4].map((slotId) => ({ slotId, slotCls: 'RedisSlot', backends: ['Reports'], timeout: '10s' })));
scheduler.start({ cron: '*/1 * * * * *' }); // a pass every second, on top of instant refills

// Leave once the whole queue is done (the example's end; a real worker runs until shut down).
const total = Number(process.env.TOTAL ?? 0);
while ((await redis.llen(`${queue}:done`)) < total) await new Promise((resolve) => setTimeout(resolve, 100));
await scheduler.close();
redis.disconnect();
