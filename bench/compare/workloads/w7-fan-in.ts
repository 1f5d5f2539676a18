/**
 * W7 fan-in: P scheduler processes on one store sharing S slots, each slot's task a T ms timer,
 * measured for a fixed window after a warm-up: throughput (efficiency against S / T), errors
 * (thrown, emitted or logged, warm-up included), and the store's CPU over the window: Redis's
 * own (INFO cpu, the whole server), or the PostgreSQL backends of the run's connections (found
 * by application_name, read from /proc/<pid>/stat). Redis slots and PostgreSQL slots; no peer.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { Backend, Scheduler, type TaskContext } from '../../../src/index.js';
import { fmt } from '../../harness/format.js';
import { databaseUrl, redisUrl, uniqueName, type Services } from '../../harness/services.js';
import { sleep } from '../../harness/timing.js';
import { Fleet, type FleetMember } from '../fleet.js';
import type { ContenderInfo, Measured } from '../model.js';
import type { RunContext, WorkloadSpec } from '../workload.js';
import { countingLogger } from './fleet-common.js';

/** What each W7 process is given. */
export interface W7Role {
  workload: 'W7';
  index: number;
  store: 'redis' | 'postgres';
  name: string;
  keyPrefix: string;
  schema: string;
  slots: number;
  taskMs: number;
  maxLocalTasks: number;
  /** PostgreSQL: connections of the pool, and its application_name (how the store's CPU is found). */
  pool: number;
  applicationName: string;
}

/** Tasks per second the slots allow. */
const ideal = (slots: number, taskMs: number) => (slots * 1000) / taskMs;

export const w7: WorkloadSpec = {
  describe(o) {
    const local = maxLocal(o.w7Slots, o.w7Processes);
    const contenders: ContenderInfo[] = (['redis', 'postgres'] as const).map((store) => ({
      key: `ours-${store}`,
      label: `task-semaphore, ${o.w7Processes} processes, ${o.w7Slots} ${store === 'redis' ? 'Redis' : 'PostgreSQL'} slots`,
      short: `ours, ${store === 'redis' ? 'Redis' : 'PostgreSQL'} slots`,
      ours: true,
    }));
    return {
      key: 'W7',
      title: `W7 fan-in: ${o.w7Processes} scheduler processes on one store, ${o.w7Slots} slots, tasks of ${o.w7TaskMs} ms, ${fmt(o.w7Duration / 1000, 0)} s measured, efficiency vs ${fmt(ideal(o.w7Slots, o.w7TaskMs), 0)}/s`,
      metrics: [
        { key: 'rate', label: 'tasks/s', better: 'higher', decimals: 0 },
        { key: 'efficiency', label: 'efficiency', better: 'higher', decimals: 3 },
        { key: 'errors', label: 'errors', better: 'lower', decimals: 0 },
        { key: 'storeCpu', label: 'store CPU % of a core', better: 'lower', decimals: 1 },
        { key: 'storeCpuPerTask', label: 'store CPU ms/task', better: 'lower', decimals: 3 },
      ],
      contenders,
      pairs: [],
      notes: [
        `Each process: a Scheduler of one name with all ${o.w7Slots} slots, maxLocalTasks ${local} (so that every process holds some), start({ cron: '*/1 * * * * *' }), an in-memory backend that always has a task; each task stops after a ${o.w7TaskMs} ms timer. Redis slots from REDIS_URL; PostgreSQL slots on a pool of ${o.w7Pool} connections per process (plus its LISTEN connection). ${fmt(o.w7Warmup / 1000, 0)} s unmeasured after the go, then ${fmt(o.w7Duration / 1000, 0)} s counted.`,
        'Store CPU, Redis: used_cpu_user + used_cpu_sys of INFO cpu over the window, the whole server (other clients of a shared Redis count too). PostgreSQL: utime + stime from /proc/<pid>/stat of the backends whose application_name is the run’s, over the window (the server’s background processes are not counted). Errors: pass, poll and callback errors, stops that did not act, and error lines logged.',
      ],
    };
  },

  async run(contender: string, { services, options: o }: RunContext): Promise<Measured> {
    const store = contender === 'ours-redis' ? 'redis' : 'postgres';
    const role: Omit<W7Role, 'index'> = {
      workload: 'W7',
      store,
      name: uniqueName('w7'),
      keyPrefix: services.keyPrefix,
      schema: store === 'postgres' ? services.newSchema('bench_w7') : '',
      slots: o.w7Slots,
      taskMs: o.w7TaskMs,
      maxLocalTasks: maxLocal(o.w7Slots, o.w7Processes),
      pool: o.w7Pool,
      applicationName: `${services.keyPrefix}_w7`,
    };
    const cpu = await storeCpu(services, role);
    const fleet = await Fleet.start(o.w7Processes, { ...role }, 300_000);
    try {
      fleet.broadcast('go');
      await sleep(o.w7Warmup);
      const before = await cpu.read();
      fleet.broadcast('mark');
      const began = performance.now();
      await sleep(o.w7Duration);
      const after = await cpu.read();
      const elapsedMs = performance.now() - began;
      const reports = await fleet.close();
      const tasks = reports.reduce((sum, r) => sum + r.tasks!, 0);
      const cpuMs = cpu.delta(before, after);
      const rate = (tasks / elapsedMs) * 1000;
      return {
        metrics: {
          rate,
          efficiency: rate / ideal(o.w7Slots, o.w7TaskMs),
          errors: reports.reduce((sum, r) => sum + r.errors!, 0),
          storeCpu: (cpuMs / elapsedMs) * 100,
          storeCpuPerTask: cpuMs / tasks,
        },
        details: [
          `tasks per process: ${reports.map((r) => r.tasks).join(', ')}; warnings logged: ${reports.reduce((sum, r) => sum + r.warnings!, 0)}`,
        ],
      };
    } catch (error) {
      fleet.kill();
      throw error;
    }
  },
};

const maxLocal = (slots: number, processes: number) => Math.max(1, Math.ceil(slots / processes));

/** Reads of the store's CPU time in ms: Redis's own, or the run's PostgreSQL backends'. */
async function storeCpu(services: Services, role: Omit<W7Role, 'index'>) {
  if (role.store === 'redis') {
    const client = await services.redis();
    return {
      read: async () => {
        const info = await client.info('cpu');
        const seconds = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
        return new Map([['redis', (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000]]);
      },
      delta: (before: Map<string, number>, after: Map<string, number>) => after.get('redis')! - before.get('redis')!,
    };
  }
  const admin = await services.postgres(1);
  return {
    /** CPU ms of each backend of the run, by pid. */
    read: async () => {
      const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [
        role.applicationName,
      ]);
      return new Map(rows.map(({ pid }) => [String(pid), processCpuMs(pid)]));
    },
    /** Backends that came during the window count from 0; those that left during it are lost (the pools keep theirs). */
    delta: (before: Map<string, number>, after: Map<string, number>) =>
      [...after].reduce((sum, [pid, ms]) => sum + (Number.isFinite(ms) ? ms - (before.get(pid) ?? 0) : 0), 0),
  };
}

/** utime + stime of a process, in ms (Linux reports them in USER_HZ ticks, 100 a second). */
function processCpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop()!.trim().split(/\s+/);
    // After the command's closing parenthesis, field 3 (state) comes first: utime is 14, stime 15.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/** One W7 process. */
export async function w7Member(role: W7Role): Promise<FleetMember> {
  const { logger, counts } = countingLogger();
  const pool =
    role.store === 'postgres'
      ? new pg.Pool({ connectionString: databaseUrl, max: role.pool, application_name: role.applicationName, idleTimeoutMillis: 0 })
      : undefined;
  let errors = 0;
  let completed = 0;
  let marked = 0;
  const fail = () => void errors++;
  class Endless extends Backend {
    private next = 0;
    serving = true;
    poll(): string | null {
      return this.serving ? `p${role.index}-${++this.next}` : null;
    }
    startCallback(_taskId: string, task: TaskContext): void {
      setTimeout(() => void task.stop().then((outcome) => void (outcome.ok || errors++), fail), role.taskMs);
    }
  }
  const backend = new Endless();
  const scheduler = new Scheduler({
    name: role.name,
    ...(pool ? { postgres: pool, postgresSchema: role.schema } : { redis: redisUrl, keyPrefix: role.keyPrefix }),
    timeout: '1m',
    maxLocalTasks: role.maxLocalTasks,
    logger,
  });
  scheduler.registerBackend('Endless', backend);
  scheduler.on('task:stop', () => void completed++);
  for (const event of ['pass:error', 'poll:error', 'callback:error'] as const) scheduler.on(event, fail);
  await scheduler.load(Array.from({ length: role.slots }, (_, i) => ({ slotId: i + 1, backends: ['Endless'] })));
  return {
    go: () => {
      scheduler.start({ cron: '*/1 * * * * *' });
    },
    mark: () => void (marked = completed),
    report: async () => ({ tasks: completed - marked, errors: errors + counts.errors, warnings: counts.warnings }),
    close: async () => {
      backend.serving = false;
      await scheduler.close();
      await pool?.end();
    },
  };
}
