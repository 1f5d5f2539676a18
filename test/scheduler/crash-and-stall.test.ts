/**
 * A process that dies or stalls while its tasks run: the slots of tasks that run in the process
 * come back within the process lease (not the keepalive timeout), and a process that wakes from a
 * stall never lets a task run on, or start, in a slot that may be someone else's by now.
 * Serial: two of these tests block the event loop, which would stall the others.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Backend, type RejectInfo, type StopOutcome, type TaskContext } from '../../src/contracts/backend.js';
import { TaskAbortedError } from '../../src/core/errors.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { ScriptedBackend, sleep, waitFor } from '../../src/testing/scheduler-kit.js';
import type { SchedulerOptions } from '../../src/scheduler/options.js';
import { connectPostgres, connectRedis, databaseUrl, freshSchema, redisUrl, uniqueName } from '../helpers/services.js';

const workerScript = fileURLToPath(new URL('../helpers/worker-process.js', import.meta.url));

function startWorker(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [workerScript], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
  return child;
}

/** Blocks this process's event loop, as a long GC pause or a CPU-bound task would. */
function blockEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A Redis namespace for one test's queue and records, and a scheduler name and key prefix; cleaned up after. */
async function redisTest(t: ExecutionContext, prefix: string) {
  const redis = await connectRedis();
  const ns = uniqueName(prefix);
  t.teardown(async () => {
    const keys = await redis.keys(`${ns}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  return { redis, ns, name: uniqueName(prefix), keyPrefix: uniqueName(prefix) };
}

/** Tasks that run in process: startCallback launches them here. */
class InProcessBackend extends ScriptedBackend {
  override readonly runsInProcess = true;
}

/**
 * kill -9 of a process whose two tasks run in process and never end; then a fresh process of the
 * name, with the default cron (a pass a minute) and timeout (5 min), takes the slots over.
 * @param lease - the process lease, or undefined for the default (20 s)
 */
async function crashRecovery(t: ExecutionContext, kind: 'redis' | 'postgres', lease: string | undefined): Promise<number> {
  const { redis, ns, name, keyPrefix } = await redisTest(t, 'crash');
  let storeEnv: Record<string, string>;
  let storeOptions: Partial<SchedulerOptions>;
  if (kind === 'redis') {
    storeEnv = { KIND: 'redis', KEY_PREFIX: keyPrefix };
    storeOptions = { redis: redisUrl, keyPrefix };
  } else {
    const pool = await connectPostgres({ max: 1 });
    const schema = await freshSchema(pool);
    await pool.end();
    storeEnv = { KIND: 'postgres', SCHEMA: schema };
    storeOptions = { postgres: databaseUrl, postgresSchema: schema };
  }
  const leaseEnv: Record<string, string> = lease === undefined ? {} : { PROCESS_LEASE: lease };
  const victim = startWorker({ ...storeEnv, ...leaseEnv, NS: ns, NAME: name, SLOTS: '2', TIMEOUT: '5m', HANG: '1', IN_PROCESS: '1' });
  t.teardown(() => victim.exitCode === null && victim.kill('SIGKILL'));
  await redis.rpush(`${ns}:queue`, 'victim-1', 'victim-2');
  await waitFor(async () => (await redis.llen(`${ns}:starts`)) === 2, 'the victim to start its tasks', 20_000);
  victim.kill('SIGKILL');
  const killedAt = Date.now();

  const backend = new InProcessBackend(['after-1', 'after-2']);
  const scheduler = new Scheduler({ name, ...storeOptions });
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('Queue', backend);
  await scheduler.load([1, 2].map((slotId) => ({ slotId, backends: ['Queue'] })));
  const [held] = await scheduler.inspect();
  t.true(held!.occupancy!.timeoutMs < 300_000, 'an in-process task holds its slot on the process lease, not the 5 min timeout');
  scheduler.start();

  await waitFor(() => backend.started.length === 2, 'the new process to start its tasks', 40_000);
  const recoveredMs = Date.now() - killedAt;
  t.log(`slots free again and refilled ${recoveredMs} ms after kill -9`);
  t.deepEqual(
    backend.stopped.map((s) => [s.taskId, s.outcome.reason]).sort(),
    [
      ['victim-1', 'timeout'],
      ['victim-2', 'timeout'],
    ],
    'each dead task ended once, delivered here',
  );
  return recoveredMs;
}

test.serial(
  'redis: a killed process frees the slots of its in-process tasks within 30 s under default settings, and the end reaches a scheduler with the backend',
  async (t) => {
    const recoveredMs = await crashRecovery(t, 'redis', undefined);
    t.true(recoveredMs < 30_000, `recovered in ${recoveredMs} ms`);
  },
);

test.serial('postgres: a killed process frees the slots of its in-process tasks within the process lease and one pass', async (t) => {
  // A 2 s lease keeps the test short; the default is covered on Redis, through the same code.
  const recoveredMs = await crashRecovery(t, 'postgres', '2s');
  t.true(recoveredMs < 10_000, `recovered in ${recoveredMs} ms`);
});

test.serial('an in-process task is renewed while it lives; one that goes silent is told and reaped after its own timeout', async (t) => {
  const backend = new InProcessBackend(['quiet', 'keeps-alive']);
  const remote = new ScriptedBackend(['remote']);
  const scheduler = new Scheduler({ name: uniqueName('lease'), timeout: '1500ms', processLease: '300ms' });
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('InProcess', backend).registerBackend('Remote', remote);
  const signals = new Map<string, AbortSignal>();
  backend.onStart = (taskId, context) => {
    signals.set(taskId, context.signal);
    if (taskId === 'keeps-alive') {
      const beat = setInterval(() => void context.keepalive(), 500);
      context.onAbort(() => clearInterval(beat));
      t.teardown(() => clearInterval(beat));
    }
  };
  await scheduler.load([
    { slotId: 1, backends: ['InProcess'] },
    { slotId: 2, backends: ['InProcess'] },
    { slotId: 3, backends: ['Remote'] },
  ]);
  await scheduler.schedule();
  const timeouts = Object.fromEntries((await scheduler.inspect()).map((slot) => [slot.occupancy!.taskId, slot.occupancy!.timeoutMs]));
  t.deepEqual(timeouts, { quiet: 300, 'keeps-alive': 300, remote: 1500 }, 'only in-process tasks hold their slot on the lease');

  // Several leases later, within its own timeout, the quiet task still holds its slot.
  await sleep(1000);
  await scheduler.schedule();
  t.deepEqual(backend.stopped, [], 'renewed by the scheduler while within the timeout');
  t.false(signals.get('quiet')!.aborted);

  // Past its own timeout (1.5 s without a keepalive) the lease lapses: told, then reaped.
  await waitFor(() => signals.get('quiet')!.aborted, 'the quiet task to be told', 3000);
  t.is((signals.get('quiet')!.reason as TaskAbortedError).abortCause, 'timeout');
  await waitFor(
    async () => {
      await scheduler.schedule();
      return backend.stopsOf('quiet').length === 1;
    },
    'the quiet task to be reaped',
    3000,
  );
  t.is(backend.stopsOf('quiet')[0]!.reason, 'timeout');
  t.false(signals.get('keeps-alive')!.aborted, 'a task that keeps itself alive runs on');
  t.deepEqual(backend.stopsOf('keeps-alive'), []);
});

test.serial(
  'after a stall past the timeout, every task learns at its first look that its slot is gone, while another process reuses the slots',
  async (t) => {
    const { redis, ns, name, keyPrefix } = await redisTest(t, 'stall');
    const slotCount = 4;
    const ids = Array.from({ length: slotCount }, (_, i) => `frozen-${i}`);
    let wokenAt: number | undefined;
    const toldAtFirstLook: string[] = [];
    const workedAfterWaking: string[] = [];

    class LoopingBackend extends Backend {
      private readonly queue = [...ids];
      override poll(): string | null {
        return this.queue.shift() ?? null;
      }
      // Each task works in small steps, looks at its signal before each, and keeps itself alive.
      override startCallback(taskId: string, context: TaskContext): void {
        const signal = context.signal;
        void (async () => {
          for (let step = 1; ; step++) {
            await sleep(20);
            if (signal.aborted) {
              if (wokenAt !== undefined) toldAtFirstLook.push(taskId);
              return;
            }
            if (wokenAt !== undefined) workedAfterWaking.push(taskId);
            if (step % 5 === 0) void context.keepalive().catch(() => {});
          }
        })();
      }
    }

    const scheduler = new Scheduler({ name, redis: redisUrl, keyPrefix, timeout: '1s', reservationTimeout: '5s', pollTimeout: '1s' });
    t.teardown(() => scheduler.close());
    scheduler.registerBackend('Queue', new LoopingBackend());
    await scheduler.load(Array.from({ length: slotCount }, (_, i) => ({ slotId: i + 1, backends: ['Queue'] })));
    t.is((await scheduler.schedule()).started, slotCount);

    // Another process of the name, passing all the time, with work of its own waiting for slots.
    const other = startWorker({ KIND: 'redis', NS: ns, NAME: name, KEY_PREFIX: keyPrefix, SLOTS: String(slotCount), TIMEOUT: '1s' });
    t.teardown(() => other.exitCode === null && other.kill('SIGKILL'));
    await waitFor(async () => (await redis.llen(`${ns}:ready`)) === 1, 'the other process to load', 20_000);
    await redis.rpush(`${ns}:queue`, ...Array.from({ length: 40 }, (_, i) => `other-${i}`));
    await sleep(500); // the frozen tasks keep their slots while alive
    t.is(await redis.llen(`${ns}:starts`), 0, 'no slot changed hands while the tasks kept alive');

    blockEventLoop(2500);
    wokenAt = Date.now();
    await waitFor(() => toldAtFirstLook.length === slotCount, 'every task to look after waking', 5000);
    t.deepEqual(workedAfterWaking, [], 'no task did a step of work after waking');
    t.true((await redis.llen(`${ns}:starts`)) > 0, 'the other process reaped the slots and reused them meanwhile');
    await redis.set(`${ns}:done`, '1');
    // This scheduler goes on: its passes work, and find the slots held by the other process's tasks.
    await t.notThrowsAsync(scheduler.schedule());
  },
);

test.serial(
  'a task whose slot lapsed before its startCallback could run is never started: its backend gets it back as lapsed',
  async (t) => {
    const backend = new ScriptedBackend(['late', 'next']);
    const scheduler = new Scheduler({ name: uniqueName('lapse'), timeout: '300ms' });
    t.teardown(() => scheduler.close());
    scheduler.registerBackend('Queue', backend);
    await scheduler.load([{ slotId: 1, backends: ['Queue'] }]);
    // The process stalls between the store's start and the callback (a listener of task:start here).
    const stall = () => blockEventLoop(600);
    scheduler.once('task:start', stall);
    const report = await scheduler.schedule();
    t.is(report.started, 0);
    t.deepEqual(backend.started, [], 'startCallback never ran');
    t.deepEqual(
      backend.rejected.map((r): [string, RejectInfo['reason']] => [r.taskId, r.info.reason]),
      [['late', 'lapsed']],
    );
    // The occupancy the store holds is reaped as any timed-out one (one stopCallback), and work goes on.
    await waitFor(
      async () => {
        await scheduler.schedule();
        return backend.started.length === 1;
      },
      'the next task to start',
      3000,
    );
    t.deepEqual(
      backend.stopped.map((s): [string, StopOutcome['reason']] => [s.taskId, s.outcome.reason]),
      [['late', 'timeout']],
    );
    t.is(backend.started[0]!.taskId, 'next');
  },
);
