/**
 * W5 the semaphore primitive on Redis: one acquire+release cycle, looped by 1 caller and by N
 * callers with a limit of as many (so that no acquire waits), and by N callers on a smaller
 * limit (contended): cycles/s, and each acquire's latency. Ours through our-permits.ts;
 * redis-semaphore's Semaphore as its README shows it (a new Semaphore per cycle, its defaults:
 * acquire retries every 10 ms).
 */
import { loadRedisSemaphore } from '../../cycles/redis-semaphore.js';
import { fmt } from '../../harness/format.js';
import { countRedis } from '../../harness/round-trips.js';
import { percentile } from '../../harness/stats.js';
import { throughput } from '../../harness/timing.js';
import type { ContenderInfo, Measured } from '../model.js';
import type { CompareOptions } from '../options.js';
import { required } from '../peers/index.js';
import { version, type RunContext, type WorkloadSpec } from '../workload.js';
import { ourPermits } from './our-permits.js';

/** Callers and limit of each level. */
function level(key: string, o: CompareOptions): { callers: number; limit: number } {
  if (key.endsWith('-1')) return { callers: 1, limit: 1 };
  if (key.endsWith('-n')) return { callers: o.w5Callers, limit: o.w5Callers };
  return { callers: o.w5Callers, limit: o.w5Limit };
}

export const w5: WorkloadSpec = {
  describe(o, peers) {
    const n = o.w5Callers;
    const levels = [
      ['1', '1 caller, limit 1'],
      ['n', `${n} callers, limit ${n}`],
      ['contended', `${n} callers, limit ${o.w5Limit}`],
    ] as const;
    const contenders: ContenderInfo[] = [
      ...levels.map(([k, text]) => ({
        key: `ours-${k}`,
        label: `task-semaphore, acquire + stop, ${text}`,
        short: `ours (${text})`,
        ours: true,
      })),
      ...levels.map(([k, text]) => ({
        key: `rs-${k}`,
        label: `redis-semaphore ${version(peers, 'redis-semaphore')}, ${text}`,
        short: `redis-semaphore (${text})`,
        ours: false,
        peer: 'redis-semaphore' as const,
      })),
    ];
    return {
      key: 'W5',
      title: `W5 semaphore cycle on Redis: acquire+release, ${fmt(o.w5Duration, 0)} ms per measurement`,
      metrics: [
        { key: 'rate', label: 'cycles/s', better: 'higher', decimals: 0 },
        { key: 'p50', label: 'acquire p50 ms', better: 'lower', decimals: 2 },
        { key: 'p99', label: 'acquire p99 ms', better: 'lower', decimals: 2 },
      ],
      contenders,
      pairs: [
        { ours: 'ours-1', peer: 'rs-1', metric: 'rate' },
        { ours: 'ours-n', peer: 'rs-n', metric: 'rate' },
        { ours: 'ours-contended', peer: 'rs-contended', metric: 'rate' },
        { ours: 'ours-contended', peer: 'rs-contended', metric: 'p99' },
      ],
      notes: [
        'Ours is `scheduler.acquire(taskId)` then `scheduler.stop(taskId)` on Redis slots that list no backend (compare/workloads/our-permits.ts): one request each; under contention an acquire waits in the store’s queue, first come first served, woken by its `granted` event.',
        'redis-semaphore: new Semaphore(client, key, limit) per cycle, acquire(), release(), its defaults (lockTimeout 10 s, acquireTimeout 10 s, retryInterval 10 ms: a waiting acquire polls).',
      ],
    };
  },

  async run(contender: string, { services, options: o }: RunContext): Promise<Measured> {
    const { callers, limit } = level(contender, o);
    const client = await services.redis();
    const counter = countRedis(client);
    const latencies: number[] = [];
    let cycle: (id: number) => Promise<void>;
    let close = async () => {};
    if (contender.startsWith('ours-')) {
      const permits = await ourPermits(client, services.keyPrefix, limit, limit < callers);
      cycle = async (id) => {
        const began = performance.now();
        const permit = await permits.acquire(`t${id}`);
        latencies.push(performance.now() - began);
        await permits.release(permit);
      };
      close = () => permits.close();
    } else {
      const { Semaphore } = required(loadRedisSemaphore());
      const key = `${services.keyPrefix}:w5`;
      cycle = async () => {
        const began = performance.now();
        const semaphore = new Semaphore(client, key, limit);
        await semaphore.acquire();
        latencies.push(performance.now() - began);
        await semaphore.release();
      };
    }
    let id = 0;
    await cycle(id++); // warm: scripts cached on the server
    counter.reset();
    await cycle(id++);
    const requests = `${counter.total} requests per uncontended cycle (${counter.describe().replace(/evalsha:\w+/, 'evalsha')})`;
    const result = await throughput(
      callers,
      o.w5Duration,
      () => cycle(id++),
      undefined,
      () => (latencies.length = 0),
    );
    await close();
    return {
      metrics: { rate: result.opsPerSec, p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
      details: [requests],
    };
  },
};
