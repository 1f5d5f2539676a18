/**
 * A fleet of scheduler processes (test/helpers/worker-process) for the multi-process tests: their
 * spawning, their exits, and the records they write to the shared Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import type { Redis } from 'ioredis';
import { connectRedis, uniqueName } from './services.js';

const workerScript = fileURLToPath(new URL('./worker-process.js', import.meta.url));

/** A start or stop record of a worker process; `at` is its wall clock, for ordering against the test's events. */
export interface Entry {
  taskId: string;
  token: number;
  slotId?: string;
  reason?: string;
  /** On a stop record: a delivery run again after its first deliverer died. */
  redelivered?: boolean;
  cause?: string;
  pid: number;
  at: number;
  /** On a stop record: the ended occupancy's times, store clock. */
  startedAt?: number;
  endedAt?: number;
}

/** Spawns worker processes with `env`; those still alive at teardown are killed with SIGKILL. */
export function startWorkers(t: ExecutionContext, count: number, env: Record<string, string>): ChildProcess[] {
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, [workerScript], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] }),
  );
  t.teardown(() => children.forEach((child) => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  return children;
}

/** The exit code (null when killed by a signal). */
export const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code)),
  );

/** Polls `check` every 50 ms until it holds; fails naming `what` after `ms`. */
export async function waitFor(check: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The JSON records of a Redis list. */
export const records = async (redis: Redis, key: string): Promise<Entry[]> =>
  (await redis.lrange(key, 0, -1)).map((line) => JSON.parse(line) as Entry);

/** A client on the shared Redis and a namespace for one test's queue and records, deleted at teardown. */
export async function fleetNamespace(t: ExecutionContext): Promise<{ redis: Redis; ns: string }> {
  const redis = await connectRedis();
  const ns = uniqueName('mp');
  t.teardown(async () => {
    const keys = await redis.keys(`${ns}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  return { redis, ns };
}
