/**
 * `shutdown()` in a real process on SIGTERM (test/fixtures/shutdown-on-signal): the exit code and
 * the report the process prints, and the slots as another process then finds them in Redis.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ShutdownReport } from '../../src/scheduler/scheduler.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { sleep } from '../../src/testing/scheduler-kit.js';
import { connectRedis, redisUrl, uniqueName } from '../helpers/services.js';

const script = fileURLToPath(new URL('../fixtures/shutdown-on-signal.js', import.meta.url));

interface Run {
  /** Sends a signal to the process. */
  kill(signal: NodeJS.Signals): void;
  /** Resolves once the process printed `ready` (its tasks run). */
  ready: Promise<void>;
  /** The exit code and the report it printed. */
  exit: Promise<{ code: number | null; report: ShutdownReport }>;
  /** A scheduler of the same name and store, as another process. */
  other: Scheduler;
}

async function run(t: ExecutionContext, env: { TASKS: string; MODE: 'honour' | 'ignore'; GRACEFUL: string; FINAL: string }): Promise<Run> {
  (await connectRedis()).disconnect(); // fail loudly, with how to start Redis, if it is down
  const name = uniqueName('sd');
  const keyPrefix = uniqueName('sdp');
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, ...env, NAME: name, KEY_PREFIX: keyPrefix },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const other = new Scheduler({ name, redis: redisUrl, keyPrefix, logger: false });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await other.close();
    const redis = await connectRedis();
    const keys = await redis.keys(`{${keyPrefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  let out = '';
  let onReady: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (out.startsWith('ready\n')) onReady();
  });
  const exit = new Promise<{ code: number | null; report: ShutdownReport }>((resolve) =>
    child.once('exit', (code) => resolve({ code, report: JSON.parse(out.split('\n')[1] ?? 'null') as ShutdownReport })),
  );
  return { kill: (signal) => child.kill(signal), ready, exit, other };
}

test('SIGTERM: tasks that honour the abort stop, the process exits 0, and their slots are free', async (t) => {
  const p = await run(t, { TASKS: 'a,b', MODE: 'honour', GRACEFUL: '300ms', FINAL: '10s' });
  await p.ready;
  p.kill('SIGTERM');
  const { code, report } = await p.exit;
  t.is(code, 0);
  t.deepEqual(report.aborted.map((task) => task.taskId).sort(), ['a', 'b']);
  t.deepEqual([report.finished, report.dropped, report.errors], [[], [], []]);
  t.deepEqual(
    (await p.other.inspect()).map((slot) => slot.status),
    ['idle', 'idle'],
  );
});

test('SIGTERM: a task that ignores the abort is dropped after the final wait, the process exits 6, and its slot is free', async (t) => {
  const p = await run(t, { TASKS: 'stubborn', MODE: 'ignore', GRACEFUL: '200ms', FINAL: '300ms' });
  await p.ready;
  const began = performance.now();
  p.kill('SIGTERM');
  const { code, report } = await p.exit;
  t.true(performance.now() - began < 200 + 300 + 2000 + 1000, 'never hangs');
  t.is(code, 6);
  t.like(report.dropped, [{ taskId: 'stubborn', slotId: '1', recorded: true }]);
  t.like(await p.other.inspect(), [{ slotId: '1', status: 'idle' }]);
  t.like(await p.other.keepalive('stubborn', { token: report.dropped[0]!.token }), { ok: false, reason: 'ended', endReason: 'dropped' });
});

test('a second SIGTERM cuts the graceful wait short: the tasks are aborted at once', async (t) => {
  const p = await run(t, { TASKS: 'a', MODE: 'honour', GRACEFUL: '60s', FINAL: '10s' });
  await p.ready;
  const began = performance.now();
  p.kill('SIGTERM');
  await sleep(300);
  p.kill('SIGTERM');
  const { code, report } = await p.exit;
  t.true(performance.now() - began < 10_000, 'did not wait out the graceful 60 s');
  t.is(code, 0);
  t.like(report.aborted, [{ taskId: 'a' }]);
  t.like(await p.other.inspect(), [{ slotId: '1', status: 'idle' }]);
});
