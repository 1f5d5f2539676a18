/**
 * Latency, measured before the drains: with the Scheduler idle and listening, single jobs are
 * deferred one at a time through `ProcrastinateClient.defer`, each once the previous one has ended,
 * and the time from `defer` returning to the handler starting is taken on one clock.
 */
import pg from 'pg';
import { Scheduler } from '../../src/index.js';
import { ProcrastinateBackend, ProcrastinateClient } from '../../backends/procrastinate/index.js';
import { fmt, type Row } from '../harness/format.js';
import { countPostgres, countRedis } from '../harness/round-trips.js';
import { uniqueName, type Services } from '../harness/services.js';
import { percentile } from '../harness/stats.js';
import { sleep } from '../harness/timing.js';
import { load1 } from './drain.js';
import type { ProcrastinateBenchOptions } from './options.js';
import { describe, freshQueue, queue, taskName, verify } from './queue.js';
import { judgeLatency } from './targets.js';

/** What one latency run measured: the samples in ms, and what the jobs cost. */
export interface LatencySamples {
  /** From `defer` returning to the handler's first line. */
  fromReturn: number[];
  /** From calling `defer` to the handler's first line. */
  fromCall: number[];
  /** Requests per job, e.g. `SQL 2.00 (…); Redis 3.00 (…)`. */
  requests: string;
  /** Mean ms from send to reply of those requests. */
  latencies: string;
  loadBefore: number;
  loadAfter: number;
}

/** defer → handler start, one job at a time, with the Scheduler idle and listening (Redis slots). */
export async function measureLatency(services: Services, admin: pg.Pool, options: ProcrastinateBenchOptions): Promise<LatencySamples> {
  const q = await freshQueue(services, admin, 0, options.poolSize);
  const client = await services.redis();
  const redisCounter = countRedis(client);
  const sqlCounter = countPostgres(q.pool);
  let onStart: ((at: number) => void) | undefined;
  let onStop: (() => void) | undefined;
  const backend = new ProcrastinateBackend({
    postgres: q.pool,
    queues: [queue],
    tasks: { [taskName]: () => onStart?.(performance.now()) },
  });
  const scheduler = new Scheduler({ name: uniqueName('bench_pq_latency'), timeout: '5m', redis: client, keyPrefix: services.keyPrefix });
  scheduler.registerBackend('Procrastinate', backend);
  let failure: Error | undefined;
  scheduler.on('task:stop', () => onStop?.());
  scheduler.on('pass:error', (error) => (failure ??= error));
  scheduler.on('poll:error', ({ error }) => (failure ??= error));
  const deferrer = new ProcrastinateClient({ postgres: q.pool });
  try {
    await scheduler.load(Array.from({ length: options.slots }, (_, i) => ({ slotId: i + 1, backends: ['Procrastinate'] })));
    await scheduler.schedule(); // an empty pass: from now on only NOTIFYs and freed slots start passes
    const fromReturn: number[] = [];
    const fromCall: number[] = [];
    const warmup = Math.min(50, options.latencyJobs);
    const loadBefore = load1();
    for (let i = 0; i < warmup + options.latencyJobs; i++) {
      if (i === warmup) {
        redisCounter.reset();
        sqlCounter.reset();
      }
      const started = new Promise<number>((resolve) => (onStart = resolve));
      const stopped = new Promise<void>((resolve) => (onStop = resolve));
      const timeout = setTimeout(() => (failure ??= new Error(`job ${i} did not start within 10 s`)), 10_000);
      const called = performance.now();
      await deferrer.defer(taskName, {}, { queue });
      const returned = performance.now();
      const startedAt = await Promise.race([started, sleep(10_000).then(() => NaN)]);
      clearTimeout(timeout);
      if (failure) throw failure;
      if (i >= warmup) {
        fromReturn.push(startedAt - returned);
        fromCall.push(startedAt - called);
      }
      await stopped; // the job is written and its slot free: the Scheduler is idle again
      await sleep(3);
    }
    const loadAfter = load1();
    const n = options.latencyJobs;
    const requests = `${describe('SQL', sqlCounter, n)}; ${describe('Redis', redisCounter, n)}`;
    const latencies = `${sqlCounter.describeLatency()}; ${redisCounter.describeLatency()}`;
    await scheduler.close();
    await verify(q.pool, warmup + n, 'latency');
    return { fromReturn, fromCall, requests, latencies, loadBefore, loadAfter };
  } finally {
    await scheduler.close().catch(() => {});
    await deferrer.close();
    await q.drop();
  }
}

/** The latency row of the Procrastinate benchmark. */
export async function latencyRun(services: Services, admin: pg.Pool, options: ProcrastinateBenchOptions): Promise<Row> {
  const { fromReturn, fromCall, requests, latencies, loadBefore, loadAfter } = await measureLatency(services, admin, options);
  const p50 = percentile(fromReturn, 50);
  const p99 = percentile(fromReturn, 99);
  return {
    setup: `${options.slots} Redis slots, idle, LISTEN/NOTIFY; one job at a time, 3 ms apart`,
    jobs: options.latencyJobs,
    'defer return → start: p50 ms': fmt(p50, 2),
    'p99 ms': fmt(p99, 2),
    'max ms': fmt(Math.max(...fromReturn), 2),
    'defer call → start: p50 ms': fmt(percentile(fromCall, 50), 2),
    'p99 ms (from call)': fmt(percentile(fromCall, 99), 2),
    'requests/job': requests,
    'mean ms from send to reply': latencies,
    'load 1 min before → after': `${fmt(loadBefore, 2)} → ${fmt(loadAfter, 2)}`,
    target: judgeLatency(p50, p99),
  };
}
