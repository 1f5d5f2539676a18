/**
 * A Node worker process for the Procrastinate multi-process tests: a Scheduler of name NAME whose
 * SLOTS Redis slots (under KEY_PREFIX) list one ProcrastinateBackend on schema SCHEMA serving
 * QUEUES. It passes every ~PASS_MS until the Redis key `<NS>:done` exists, then closes and exits 0.
 * Everything it does goes to Redis lists under NS, so the test can check it independently of the
 * slot store and of PostgreSQL:
 * - `ready`: `{ pid, workerId }` once loaded;
 * - `runs`: `{ jobId, task, attempts, pid, workerId }` when a handler starts;
 * - `concurrent` / `max`: handlers running now, and the most seen at once (INCR when a handler
 *   starts, DECR when it is done, before the job is written and the slot freed: the count can
 *   exceed the slot count only if the semaphore is broken);
 * - `violations`: a job id whose handler started while it was already running somewhere;
 * - `errors`: failed passes and the scheduler's error events;
 * - `log`: the warn and error lines of the scheduler and backend loggers.
 *
 * Tasks: `node.work` sleeps `args.ms` and succeeds. `hang` succeeds, or with HANG=1 never settles
 * and ignores its signal (the process is then killed); RETRY gives it a retry policy (`retry: N`).
 *
 * Environment: NS, NAME, KEY_PREFIX, SCHEMA, SLOTS, SLOT_TIMEOUT (e.g. '10s'), QUEUES (comma
 * separated, default 'node'), PASS_MS (default 20), HANG, RETRY, SWEEP_MS, STALE_SECONDS,
 * HEARTBEAT_MS, REDIS_URL, DATABASE_URL.
 */
import { Redis } from 'ioredis';
import { ProcrastinateBackend } from '../../backends/procrastinate/backend.js';
import type { JobContext, TaskDefinition } from '../../backends/procrastinate/backend-options.js';
import type { Logger } from '../../src/core/logger.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { databaseUrl, redisUrl } from './services.js';

const env = (key: string): string => {
  const value = process.env[key];
  if (value === undefined) throw new Error(`procrastinate-worker-process needs ${key}`);
  return value;
};
const optionalNumber = (key: string): number | undefined => (process.env[key] === undefined ? undefined : Number(process.env[key]));

const ns = env('NS');
const hang = process.env.HANG === '1';
const passMs = optionalNumber('PASS_MS') ?? 20;
const retry = optionalNumber('RETRY');
const redis = new Redis(redisUrl);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// INCR the running count and keep its maximum, atomically.
const countUp = `local n = redis.call('INCR', KEYS[1])
if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end
return n`;

/** A logger of the library's shape that sends warn and error lines to Redis. */
function redisLogger(base: Record<string, unknown> = {}): Logger {
  const push = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    let line: string;
    try {
      line = JSON.stringify({ ...base, ...fields, level, message, pid: process.pid });
    } catch {
      line = JSON.stringify({ level, message, pid: process.pid });
    }
    void redis.rpush(`${ns}:log`, line).catch(() => {});
  };
  const ignore = () => {};
  return { error: push('error'), warn: push('warn'), info: ignore, debug: ignore, child: (fields) => redisLogger({ ...base, ...fields }) };
}

/** A search_path for the backend's own pool, through the URL (pg reads `options` from it). */
function schemaUrl(schema: string): string {
  const separator = databaseUrl.includes('?') ? '&' : '?';
  return `${databaseUrl}${separator}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

async function recordRun(job: JobContext): Promise<void> {
  await redis.rpush(
    `${ns}:runs`,
    JSON.stringify({ jobId: job.id, task: job.taskName, attempts: job.attempts, pid: process.pid, workerId: backend.workerId }),
  );
}

const hangTask: TaskDefinition = {
  handler: async (_args, job) => {
    await recordRun(job);
    if (hang) return new Promise<never>(() => {}); // never settles, whatever its signal says
  },
  ...(retry === undefined ? {} : { retry }),
};

const backend: ProcrastinateBackend = new ProcrastinateBackend({
  postgres: schemaUrl(env('SCHEMA')),
  queues: (process.env.QUEUES ?? 'node').split(','),
  tasks: {
    'node.work': async (args, job) => {
      if ((await redis.sadd(`${ns}:running`, job.id)) === 0) await redis.rpush(`${ns}:violations`, `${job.id} twice at once`);
      await redis.eval(countUp, 2, `${ns}:concurrent`, `${ns}:max`);
      await recordRun(job);
      await sleep(Number(args.ms ?? 10));
      await redis.srem(`${ns}:running`, job.id);
      await redis.decr(`${ns}:concurrent`);
    },
    hang: hangTask,
  },
  shutdownGrace: 5000,
  ...(optionalNumber('SWEEP_MS') === undefined ? {} : { sweepInterval: optionalNumber('SWEEP_MS')! }),
  ...(optionalNumber('STALE_SECONDS') === undefined ? {} : { staleWorkerTimeout: optionalNumber('STALE_SECONDS')! * 1000 }),
  ...(optionalNumber('HEARTBEAT_MS') === undefined ? {} : { heartbeatInterval: optionalNumber('HEARTBEAT_MS')! }),
});

const scheduler = new Scheduler({
  name: env('NAME'),
  redis: redisUrl,
  keyPrefix: env('KEY_PREFIX'),
  pollTimeout: '5s',
  reservationTimeout: '15s',
  ...(optionalNumber('MAX_LOCAL_TASKS') === undefined ? {} : { maxLocalTasks: optionalNumber('MAX_LOCAL_TASKS')! }),
  logger: redisLogger({ pid: process.pid }),
});
const recordError = (what: string) => (error: unknown) => void redis.rpush(`${ns}:errors`, `${process.pid} ${what}: ${String(error)}`);
scheduler.on('pass:error', recordError('pass'));
scheduler.on('poll:error', (info) => recordError(`poll ${info.backend}`)(info.error));
scheduler.on('callback:error', (info) => recordError(`${info.callback} ${info.taskId}`)(info.error));
scheduler.registerBackend('Procrastinate', backend);
await scheduler.load(
  Array.from({ length: Number(env('SLOTS')) }, (_, i) => ({ slotId: i + 1, backends: ['Procrastinate'], timeout: env('SLOT_TIMEOUT') })),
);
await redis.rpush(`${ns}:ready`, JSON.stringify({ pid: process.pid, workerId: backend.workerId }));

// Pass often, as processes on a cron tick would (NOTIFYs and freed slots also trigger passes),
// until the test says done.
while ((await redis.get(`${ns}:done`)) === null) {
  await scheduler.schedule().catch(recordError('schedule'));
  await sleep(passMs * (0.5 + Math.random()));
}
await scheduler.close();
await redis.quit();
