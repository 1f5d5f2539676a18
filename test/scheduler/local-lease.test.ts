/**
 * The local lease: a task running in this process whose keepalives cannot reach the store is told
 * to stop (cause `lost`) no later than the store may reap its slot and give it to another task,
 * so the bound on running tasks holds across a network partition. Real Redis and PostgreSQL
 * behind a TCP proxy whose connections go silent (half-open), as after a network fault.
 */
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import pg from 'pg';
import { TaskAbortedError } from '../../src/core/errors.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import type { SchedulerOptions } from '../../src/scheduler/options.js';
import { ScriptedBackend, sleep, waitFor } from '../../src/testing/scheduler-kit.js';
import { connectPostgres, connectRedis, freshSchema, redisUrl, uniqueName } from '../helpers/services.js';
import { postgresProxy, redisProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const timeoutMs = 600;

interface Store {
  /** Scheduler options whose connections go through the proxy. */
  options: Partial<SchedulerOptions>;
  /** The store's clock, in ms, read around the proxy. */
  clock(): Promise<number>;
  /** The running task's deadline on the store's clock, read around the proxy. */
  deadline(taskId: string): Promise<number>;
}

/** Store clock minus performance.now(), from the quickest of a few round trips (error ≤ half of it). */
async function clockOffset(store: Store): Promise<number> {
  let best = { rtt: Infinity, offset: 0 };
  for (let i = 0; i < 5; i++) {
    const sent = performance.now();
    const clock = await store.clock();
    const back = performance.now();
    if (back - sent < best.rtt) best = { rtt: back - sent, offset: clock - (sent + back) / 2 };
  }
  return best.offset;
}

async function redisBehind(t: ExecutionContext): Promise<{ proxy: TcpProxy; store: Store }> {
  const { proxy, url } = await redisProxy(t);
  const direct = await connectRedis();
  t.teardown(() => direct.quit());
  const keyPrefix = uniqueName('lease');
  // Through the proxy; no retries per request, so nothing but the freeze holds a command back.
  const client = new Redis(url, { maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  t.teardown(() => client.disconnect());
  return {
    proxy,
    store: {
      options: { redis: client, keyPrefix },
      async clock() {
        const [seconds, micros] = await direct.time();
        return Number(seconds) * 1000 + Number(micros) / 1000;
      },
      async deadline(taskId) {
        const keys = await direct.keys(`{${keyPrefix}:*}:slots`);
        const records = (await direct.hvals(keys[0]!)).map(
          (raw) => JSON.parse(raw) as { occupancy: { taskId: string; deadline: number } | null },
        );
        return records.find((record) => record.occupancy?.taskId === taskId)!.occupancy!.deadline;
      },
    },
  };
}

async function postgresBehind(t: ExecutionContext): Promise<{ proxy: TcpProxy; store: Store }> {
  const { proxy, connection } = await postgresProxy(t);
  const direct = await connectPostgres({ max: 2 });
  t.teardown(() => direct.end());
  const schema = await freshSchema(direct);
  const pool = new pg.Pool({ ...connection, max: 4 });
  pool.on('error', () => {});
  t.teardown(() => pool.end());
  return {
    proxy,
    store: {
      options: { postgres: pool, postgresSchema: schema },
      async clock() {
        const { rows } = await direct.query<{ now: number }>('SELECT extract(epoch FROM clock_timestamp())::float8 * 1000 AS now');
        return rows[0]!.now;
      },
      async deadline(taskId) {
        const { rows } = await direct.query<{ deadline: string }>(
          `SELECT deadline FROM ${schema}.task_semaphore_slots WHERE task_id = $1`,
          [taskId],
        );
        return Number(rows[0]!.deadline);
      },
    },
  };
}

for (const [label, behind] of [
  ['Redis', redisBehind],
  ['PostgreSQL', postgresBehind],
] as const) {
  test(`${label}: a task whose keepalives stop getting through is told to stop (lost) before the store's deadline`, async (t) => {
    const { proxy, store } = await behind(t);
    const backend = new ScriptedBackend(['task-1']);
    let aborted: { reason: unknown; at: number } | undefined;
    let beating: NodeJS.Timeout | undefined;
    backend.onStart = (_taskId, context) => {
      // Keepalives at a sixth of the timeout, as a task does; failures are the store's problem.
      beating = setInterval(() => void context.keepalive().catch(() => {}), timeoutMs / 6);
      context.signal.addEventListener('abort', () => {
        aborted = { reason: context.signal.reason, at: performance.now() };
        clearInterval(beating);
      });
    };
    const scheduler = new Scheduler({ name: uniqueName('lease'), callbackTimeout: '5s', ...store.options });
    scheduler.registerBackend('B', backend);
    t.teardown(() => scheduler.close());
    // Runs before the close above: frozen connections would hold it back.
    t.teardown(() => {
      clearInterval(beating);
      proxy.refuse(false);
      proxy.cut();
    });
    await scheduler.load([{ slotId: 1, backends: ['B'], timeout: `${timeoutMs}ms` }]);
    await scheduler.schedule();
    await waitFor(() => backend.started.length === 1, 'the task to start', 3000);
    await sleep(timeoutMs); // renewed several times while the store answers
    t.is(aborted, undefined, 'not aborted while its keepalives get through');
    const offset = await clockOffset(store);

    // A partition: open connections go silent and new ones fail (a pool would otherwise open one).
    proxy.refuse(true);
    proxy.freeze();
    const frozenAt = performance.now();
    await waitFor(() => aborted !== undefined, 'the task to be told to stop', 3000);
    const { reason, at } = aborted!;
    t.true(reason instanceof TaskAbortedError, String(reason));
    t.is((reason as TaskAbortedError).abortCause, 'lost');
    // Not at once: the last keepalive that got through still covers part of a timeout.
    t.true(at - frozenAt >= timeoutMs / 2, `told ${Math.round(at - frozenAt)} ms after the freeze`);
    // The point: before the store could reap the slot, on the store's clock.
    const deadline = await store.deadline('task-1');
    const toldAt = at + offset;
    t.log(`told ${Math.round(at - frozenAt)} ms after the freeze, ${(deadline - toldAt).toFixed(1)} ms before the store's deadline`);
    t.true(toldAt < deadline, `told at ${toldAt.toFixed(1)}, the store's deadline ${deadline}`);
  });
}

test('a task renewed from another process is never judged by the process that started it', async (t) => {
  const keyPrefix = uniqueName('lease');
  const name = uniqueName('lease');
  const backend = new ScriptedBackend(['task-1']);
  let reason: unknown;
  backend.onStart = (_taskId, context) => context.signal.addEventListener('abort', () => (reason = context.signal.reason));
  const starter = new Scheduler({ name, redis: redisUrl, keyPrefix });
  starter.registerBackend('B', backend);
  t.teardown(() => starter.close());
  const elsewhere = new Scheduler({ name, redis: redisUrl, keyPrefix });
  t.teardown(() => elsewhere.close());
  await starter.load([{ slotId: 1, backends: ['B'], timeout: `${timeoutMs}ms` }]);
  await starter.schedule();
  await waitFor(() => backend.started.length === 1, 'the task to start', 3000);
  const { token } = backend.started[0]!;
  // Only the other scheduler renews it, for three timeouts.
  for (let i = 0; i < 18; i++) {
    t.like(await elsewhere.keepalive('task-1', { token }), { ok: true });
    await sleep(timeoutMs / 6);
  }
  t.is(reason, undefined);
  t.like(await starter.stop('task-1', { token, status: 'succeeded' }), { ok: true });
});
