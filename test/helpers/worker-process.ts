/**
 * A scheduler process for the multi-process tests. It serves slots 1..SLOTS of scheduler NAME
 * on the store KIND (redis | postgres), takes task ids from a Redis list, and records every
 * start and stop in Redis, counting running tasks independently of the slot store:
 * the counter goes up after the occupancy is saved and down before `stop()`, so it can exceed
 * the slot count only if the semaphore is broken.
 *
 * Environment: KIND, NAME, NS (Redis namespace of the test's queue and records), SLOTS,
 * KEY_PREFIX (redis) or SCHEMA (postgres), TIMEOUT (e.g. '1s'), HANG=1 to start tasks that
 * keep alive and never stop (the process is then killed), IN_PROCESS=1 for a backend whose tasks run
 * in the process (`runsInProcess`), REDIS_URL, DATABASE_URL. Optional: MAX_LOCAL_TASKS;
 * PROCESS_LEASE, CALLBACK_TIMEOUT and DELIVERY_LEASE (the scheduler options); STALL_IN_STOP=1
 * for a stopCallback that records its start in `NS:stalled` and then blocks the process until it is
 * killed; STORE_URL, the slot store's own server (the queue and
 * records stay on REDIS_URL); TASK_MS,
 * tasks that run that long, keep alive at a quarter of TIMEOUT, give up at their signal and stop
 * once (a stop that throws is recorded, not retried), as a task that lost its slot must; CRON, a
 * node-cron expression for scheduler.start() instead of passing in a loop; RECORD_PASSES=1, a
 * record of every pass (its end, duration, starts and ends).
 */
import { Redis } from 'ioredis';
import { Backend, type StopOutcome, type TaskContext } from '../../src/contracts/backend.js';
import { parseDuration } from '../../src/core/duration.js';
import { TaskAbortedError } from '../../src/core/errors.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { databaseUrl, redisUrl } from './services.js';
import { errorsOnlyLogger } from './errors-only-logger.js';

const env = (key: string): string => {
  const value = process.env[key];
  if (value === undefined) throw new Error(`worker-process needs ${key}`);
  return value;
};

const ns = env('NS');
const hang = process.env.HANG === '1';
const taskMs = process.env.TASK_MS === undefined ? undefined : Number(process.env.TASK_MS);
const stallInStop = process.env.STALL_IN_STOP === '1';
const redis = new Redis(redisUrl);
const storeUrl = process.env.STORE_URL;

// INCR the running count and keep its maximum, atomically.
const countUp = `local n = redis.call('INCR', KEYS[1])
if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end
return n`;

class QueueBackend extends Backend {
  override readonly runsInProcess = process.env.IN_PROCESS === '1';

  override async poll(): Promise<string | null> {
    return redis.lpop(`${ns}:queue`);
  }

  override async startCallback(taskId: string, context: TaskContext): Promise<void> {
    if ((await redis.sadd(`${ns}:running`, taskId)) === 0) await redis.rpush(`${ns}:violations`, `${taskId} twice`);
    await redis.eval(countUp, 2, `${ns}:concurrent`, `${ns}:max`);
    await redis.rpush(
      `${ns}:starts`,
      JSON.stringify({ taskId, token: context.token, slotId: context.slotId, pid: process.pid, at: Date.now() }),
    );
    if (hang) {
      // This process will be killed with its tasks running: until then they hold their slots.
      setInterval(() => void context.keepalive().catch(() => {}), parseDuration(env('TIMEOUT'), 'TIMEOUT') / 4);
      return;
    }
    if (taskMs !== undefined) return runLong(taskId, context, taskMs);
    const finish = async () => {
      await redis.decr(`${ns}:concurrent`);
      await redis.srem(`${ns}:running`, taskId);
      await context.stop({ status: 'succeeded' });
    };
    // A failure ends this worker loudly: the test sees it exit early.
    setTimeout(
      () => {
        finish().catch((error: unknown) => {
          console.error(error);
          process.exit(1);
        });
      },
      5 + Math.floor(Math.random() * 20),
    );
  }

  override async stopCallback(taskId: string, outcome: StopOutcome): Promise<void> {
    const entry = {
      taskId,
      token: outcome.token,
      reason: outcome.reason,
      redelivered: outcome.redelivered === true,
      pid: process.pid,
      at: Date.now(),
      startedAt: outcome.startedAt,
      endedAt: outcome.endedAt,
    };
    if (stallInStop) {
      await redis.rpush(`${ns}:stalled`, JSON.stringify(entry));
      // The end is in the store; the callback never completes: no timer, no acknowledgement runs.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
    }
    await redis.rpush(`${ns}:stops`, JSON.stringify(entry));
  }

  override async rejectCallback(taskId: string): Promise<void> {
    await redis.rpush(`${ns}:queue`, taskId); // running elsewhere right now: run it again later
  }
}

/** A task that runs `ms`, keeps alive, and gives up at its signal; it leaves the running count once. */
function runLong(taskId: string, context: TaskContext, ms: number): void {
  let left = false;
  const leave = async () => {
    if (left) return false;
    left = true;
    clearInterval(beat);
    clearTimeout(done);
    await redis.decr(`${ns}:concurrent`);
    await redis.srem(`${ns}:running`, taskId);
    return true;
  };
  const record = (key: string, fields: Record<string, unknown>) =>
    void redis.rpush(`${ns}:${key}`, JSON.stringify({ taskId, token: context.token, pid: process.pid, at: Date.now(), ...fields }));
  const beat = setInterval(
    () => {
      context.keepalive().catch((error: unknown) => record('keepalive-errors', { error: String(error) }));
    },
    parseDuration(env('TIMEOUT'), 'TIMEOUT') / 4,
  );
  const done = setTimeout(() => {
    void leave().then(async (first) => {
      if (!first) return;
      await context.stop({ status: 'succeeded' }).catch((error: unknown) => record('stop-errors', { error: String(error) }));
    });
  }, ms);
  context.onAbort((reason) => {
    record('aborts', { cause: reason instanceof TaskAbortedError ? reason.abortCause : String(reason) });
    void leave();
  });
}

const kind = env('KIND');
const scheduler = new Scheduler({
  name: env('NAME'),
  ...(kind === 'redis'
    ? { redis: storeUrl ?? redisUrl, keyPrefix: env('KEY_PREFIX') }
    : {
        postgres: storeUrl ?? databaseUrl,
        postgresSchema: env('SCHEMA'),
        ...(process.env.POSTGRES_UNLOGGED ? { postgresUnlogged: process.env.POSTGRES_UNLOGGED === '1' } : {}),
      }),
  timeout: env('TIMEOUT'),
  ...(process.env.PROCESS_LEASE ? { processLease: process.env.PROCESS_LEASE } : {}),
  ...(process.env.CALLBACK_TIMEOUT ? { callbackTimeout: process.env.CALLBACK_TIMEOUT } : {}),
  ...(process.env.DELIVERY_LEASE ? { deliveryLease: process.env.DELIVERY_LEASE } : {}),
  reservationTimeout: '5s',
  pollTimeout: '1s',
  ...(process.env.MAX_LOCAL_TASKS ? { maxLocalTasks: Number(process.env.MAX_LOCAL_TASKS) } : {}),
  logger: errorsOnlyLogger(),
});
scheduler.registerBackend('Queue', QueueBackend);
await scheduler.load(Array.from({ length: Number(env('SLOTS')) }, (_, i) => ({ slotId: i + 1, backends: ['Queue'] })));
await redis.rpush(`${ns}:ready`, String(process.pid));

if (process.env.RECORD_PASSES === '1') {
  scheduler.on('pass:end', ({ durationMs, started, ended }) => {
    void redis.rpush(`${ns}:passes`, JSON.stringify({ pid: process.pid, at: Date.now(), durationMs, started, ended }));
  });
}
if (process.env.CRON) {
  // As an operator runs it: a cron tick, and refills on the stops and the store's events.
  scheduler.on('pass:error', (error) => void redis.rpush(`${ns}:pass-errors`, String(error)));
  scheduler.start({ cron: process.env.CRON });
  while ((await redis.get(`${ns}:done`)) === null) await new Promise((resolve) => setTimeout(resolve, 50));
} else {
  // Pass often, as many processes on a cron tick would, until the test says done.
  while ((await redis.get(`${ns}:done`)) === null) {
    await scheduler.schedule().catch(async (error: unknown) => {
      await redis.rpush(`${ns}:errors`, String(error));
    });
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.floor(Math.random() * 10)));
  }
}
await scheduler.close();
redis.disconnect();
