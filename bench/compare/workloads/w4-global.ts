/**
 * W4 global limit across processes: J jobs of D ms, at most L at once across P processes, the
 * jobs queued before the clock starts; efficiency = jobs/s ÷ (L / D). Every job is watched by
 * an independent probe (fleet-common.ts) whose most-seen count must never exceed L. Ours: P
 * Schedulers of one name sharing L slots, whose backend pops job ids from one Redis list
 * (examples/lib/redis-list-backend.ts), on Redis slots and on PostgreSQL slots. Peers:
 * redis-semaphore (in each process, L loops of pop → acquire → job → release) and BullMQ with a
 * global concurrency of L (`queue.setGlobalConcurrency`), P worker processes. And the job alone:
 * L loops of pop → job spread over the P processes, with no semaphore: the most efficiency the
 * job itself allows on the machine (its timer and probe round trips), against which to read the
 * others' and the targets.
 */
import { RedisListBackend } from '../../../examples/lib/redis-list-backend.js';
import { Scheduler, type TaskContext } from '../../../src/index.js';
import { loadRedisSemaphore } from '../../cycles/redis-semaphore.js';
import { fmt } from '../../harness/format.js';
import { connectRedis, databaseUrl, redisUrl, uniqueName } from '../../harness/services.js';
import { Fleet, type FleetMember, type Send } from '../fleet.js';
import type { ContenderInfo, Measured } from '../model.js';
import { bullConnection, loadBullMQ } from '../peers/bullmq.js';
import { required } from '../peers/index.js';
import { version, type RunContext, type WorkloadSpec } from '../workload.js';
import { countingLogger, probedJobs } from './fleet-common.js';
import { chunks, deadline } from './peer-drains.js';

type Contender = 'ours-redis' | 'ours-postgres' | 'ours-pg-unlogged' | 'redis-semaphore' | 'bullmq' | 'job-alone';

/** What each W4 process is given. */
export interface W4Role {
  workload: 'W4';
  index: number;
  contender: Contender;
  jobs: number;
  jobMs: number;
  limit: number;
  /** How many processes the fleet has (the job alone spreads its loops over them). */
  processes: number;
  keys: { list: string; probe: string; done: string; semaphore: string };
  keyPrefix: string;
  /** Ours on PostgreSQL slots: the schema of the slots. */
  schema: string;
  /** Ours: the Schedulers' name; BullMQ: the queue's. */
  name: string;
  bullPrefix: string;
  /** Ours: the Schedulers' `maxLocalTasks`, 0 for none. */
  maxLocalTasks: number;
}

export const w4: WorkloadSpec = {
  describe(o, peers) {
    const p = o.w4Processes;
    const contenders: ContenderInfo[] = [
      { key: 'ours-redis', label: `task-semaphore, ${p} processes, ${o.w4Limit} Redis slots`, short: 'ours, Redis slots', ours: true },
      {
        key: 'ours-postgres',
        label: `task-semaphore, ${p} processes, ${o.w4Limit} PostgreSQL slots`,
        short: 'ours, PostgreSQL slots',
        ours: true,
      },
      {
        key: 'ours-pg-unlogged',
        label: `task-semaphore, ${p} processes, ${o.w4Limit} PostgreSQL slots on unlogged tables (postgresUnlogged)`,
        short: 'ours, PostgreSQL slots, unlogged',
        ours: true,
      },
      {
        key: 'redis-semaphore',
        label: `redis-semaphore ${version(peers, 'redis-semaphore')}, ${p} processes × ${o.w4Limit} loops`,
        short: 'redis-semaphore',
        ours: false,
        peer: 'redis-semaphore',
      },
      {
        key: 'bullmq',
        label: `BullMQ ${version(peers, 'bullmq')}, ${p} workers, global concurrency ${o.w4Limit}`,
        short: 'BullMQ',
        ours: false,
        peer: 'bullmq',
      },
      {
        key: 'job-alone',
        label: `the job alone: ${o.w4Limit} loops of pop → job over ${p} processes, no semaphore (the ceiling)`,
        short: 'job alone',
        ours: false,
      },
    ];
    return {
      key: 'W4',
      title: `W4 global limit ${o.w4Limit} across ${p} processes: ${fmt(o.w4Jobs, 0)} jobs of ${o.w4JobMs} ms, efficiency vs ${fmt(ideal(o.w4Limit, o.w4JobMs), 0)}/s`,
      metrics: [
        { key: 'rate', label: 'jobs/s', better: 'higher', decimals: 0 },
        { key: 'efficiency', label: 'efficiency', better: 'higher', decimals: 3 },
        { key: 'probeMax', label: 'most at once (probe)', better: 'lower', decimals: 0 },
        { key: 'errors', label: 'errors', better: 'lower', decimals: 0 },
      ],
      contenders,
      pairs: ['redis-semaphore', 'bullmq'].flatMap((peer) =>
        ['ours-redis', 'ours-postgres', 'ours-pg-unlogged'].map((ours) => ({ ours, peer, metric: 'rate' })),
      ),
      notes: [
        `Timed from the go sent to the ${p} ready processes until the process that ended the last job says so. Each job: INCR of a probe key, a ${o.w4JobMs} ms timer, then DECR with an INCR of a done counter (one pipeline): two Redis round trips a job, the same for every contender.`,
        `The job alone has no limit to keep but its ${o.w4Limit} loops, and no handover but the next LPOP: its efficiency is the most any contender can reach here, short of 1 by the timer's lateness and the probe's round trips.`,
        `Ours: a Scheduler of one name in each process, ${o.w4Limit} slots (Redis slots from REDIS_URL, or PostgreSQL slots from DATABASE_URL, on unlogged tables for ours-pg-unlogged), a RedisListBackend popping job ids, start({ cron: '*/1 * * * * *' })${o.w4MaxLocalTasks > 0 ? `, maxLocalTasks ${o.w4MaxLocalTasks}` : ' (no maxLocalTasks: a process keeps the slots its own tasks free, so one may hold them all)'}; each task stops itself after its job. redis-semaphore: ${o.w4Limit} loops per process of LPOP → new Semaphore(client, key, ${o.w4Limit}).acquire() → job → release(), its defaults (a waiting acquire polls every 10 ms). BullMQ: jobs added with addBulk, queue.setGlobalConcurrency(${o.w4Limit}), a Worker of concurrency ${o.w4Limit} in each process (made with autorun: false, run() at go).`,
      ],
    };
  },

  async run(contender: string, { services, options: o }: RunContext): Promise<Measured> {
    const c = contender as Contender;
    const client = await services.redis();
    const base = `${services.keyPrefix}:w4`;
    const role: Omit<W4Role, 'index'> = {
      workload: 'W4',
      contender: c,
      jobs: o.w4Jobs,
      jobMs: o.w4JobMs,
      limit: o.w4Limit,
      processes: o.w4Processes,
      keys: { list: `${base}:jobs`, probe: `${base}:probe`, done: `${base}:done`, semaphore: base },
      keyPrefix: services.keyPrefix,
      schema: c === 'ours-postgres' || c === 'ours-pg-unlogged' ? services.newSchema('bench_w4') : '',
      name: uniqueName('w4'),
      bullPrefix: `${services.keyPrefix}:bull`,
      maxLocalTasks: o.w4MaxLocalTasks,
    };
    const ids = Array.from({ length: o.w4Jobs }, (_, i) => `j${i + 1}`);
    if (c === 'bullmq') {
      const { bullmq } = required(loadBullMQ());
      const queue = new bullmq.Queue(role.name, { connection: bullConnection(), prefix: role.bullPrefix });
      await queue.setGlobalConcurrency(o.w4Limit);
      for (const chunk of chunks(ids, 1000)) await queue.addBulk(chunk.map((id) => ({ name: 'job', data: { id } })));
      await queue.close();
    } else {
      for (const chunk of chunks(ids, 1000)) await client.rpush(role.keys.list, ...chunk);
    }
    const fleet = await Fleet.start(o.w4Processes, { ...role });
    const budget = deadline(((o.w4Jobs * o.w4JobMs) / o.w4Limit) * 10 + 60_000, () => 'W4 stalled');
    let elapsedMs: number;
    try {
      const began = performance.now();
      fleet.broadcast('go');
      await Promise.race([fleet.first('last', 1e9), budget.promise]);
      elapsedMs = performance.now() - began;
    } catch (error) {
      fleet.kill();
      throw error;
    } finally {
      budget.clear();
    }
    const reports = await fleet.close();
    const done = Number(await client.get(role.keys.done));
    if (done !== o.w4Jobs) throw new Error(`${done} of ${o.w4Jobs} jobs done`);
    const rate = (o.w4Jobs / elapsedMs) * 1000;
    return {
      metrics: {
        rate,
        efficiency: rate / ideal(o.w4Limit, o.w4JobMs),
        probeMax: Math.max(...reports.map((r) => r.probeMax!)),
        errors: reports.reduce((sum, r) => sum + r.errors!, 0),
      },
      details: [`jobs per process: ${reports.map((r) => r.jobs).join(', ')}`],
    };
  },
};

/** Jobs per second the limit allows. */
const ideal = (limit: number, jobMs: number) => (limit * 1000) / jobMs;

/** One W4 process. */
export async function w4Member(role: W4Role, send: Send): Promise<FleetMember> {
  const probe = await probedJobs(role.keys, role.jobMs, role.jobs, () => send({ type: 'last' }));
  let errors = 0;
  const report = async () => ({ ...probe.stats, errors });
  if (role.contender === 'bullmq') {
    const { bullmq } = required(loadBullMQ());
    const worker = new bullmq.Worker(role.name, () => probe.job(), {
      connection: bullConnection(),
      prefix: role.bullPrefix,
      concurrency: role.limit,
      autorun: false,
    });
    worker.on('failed', () => void errors++);
    worker.on('error', () => void errors++);
    await worker.waitUntilReady();
    return {
      go: () => void worker.run().catch(() => void errors++),
      report,
      close: async () => {
        await worker.close();
        probe.close();
      },
    };
  }
  if (role.contender === 'job-alone') {
    const client = await connectRedis();
    let loops: Promise<void>[] = [];
    const loop = async () => {
      while (await client.lpop(role.keys.list)) await probe.job();
    };
    // The limit's loops spread over the processes, as evenly as they go.
    const count = Math.floor(role.limit / role.processes) + (role.index < role.limit % role.processes ? 1 : 0);
    return {
      go: () => void (loops = Array.from({ length: count }, () => loop().catch(() => void errors++))),
      report,
      close: async () => {
        await Promise.all(loops);
        client.disconnect();
        probe.close();
      },
    };
  }
  if (role.contender === 'redis-semaphore') {
    const { Semaphore } = required(loadRedisSemaphore());
    const client = await connectRedis();
    let loops: Promise<void>[] = [];
    const loop = async () => {
      for (let id = await client.lpop(role.keys.list); id; id = await client.lpop(role.keys.list)) {
        const semaphore = new Semaphore(client, role.keys.semaphore, role.limit);
        await semaphore.acquire();
        try {
          await probe.job();
        } finally {
          await semaphore.release();
        }
      }
    };
    return {
      go: () => void (loops = Array.from({ length: role.limit }, () => loop().catch(() => void errors++))),
      report,
      close: async () => {
        await Promise.all(loops);
        client.disconnect();
        probe.close();
      },
    };
  }
  const { logger, counts } = countingLogger();
  const scheduler = new Scheduler({
    name: role.name,
    ...(role.contender === 'ours-redis'
      ? { redis: redisUrl, keyPrefix: role.keyPrefix }
      : {
          postgres: databaseUrl,
          postgresSchema: role.schema,
          ...(role.contender === 'ours-pg-unlogged' ? { postgresUnlogged: true } : {}),
        }),
    timeout: '1m',
    logger,
    ...(role.maxLocalTasks > 0 ? { maxLocalTasks: role.maxLocalTasks } : {}),
  });
  class ListJobs extends RedisListBackend {
    protected launch(_taskId: string, task: TaskContext): void {
      probe
        .job()
        .then(() => task.stop())
        .then(
          (outcome) => void (outcome.ok || errors++),
          () => void errors++,
        );
    }
  }
  scheduler.registerBackend('Jobs', new ListJobs(redisUrl, role.keys.list));
  for (const event of ['pass:error', 'poll:error', 'callback:error'] as const) scheduler.on(event, () => void errors++);
  await scheduler.load(Array.from({ length: role.limit }, (_, i) => ({ slotId: i + 1, backends: ['Jobs'] })));
  return {
    go: () => {
      scheduler.start({ cron: '*/1 * * * * *' });
    },
    report: async () => ({ ...probe.stats, errors: errors + counts.errors }),
    close: async () => {
      await scheduler.close();
      probe.close();
    },
  };
}
