/**
 * keepalive and stop through the Scheduler (what a task calls): the store requests each makes,
 * counted exactly, and keepalives per second from one caller in sequence and from many callers
 * at once (each on its own running task).
 */
import { once } from 'node:events';
import { Backend, Scheduler, type TaskContext } from '../../src/index.js';
import { fmt, type Row } from '../harness/format.js';
import { uniqueName, type Services, type StoreKind } from '../harness/services.js';
import { countedStore } from '../harness/store.js';
import { throughput } from '../harness/timing.js';

/** Hands out a fixed list of task ids, then nothing; the tasks run until stopped. */
class Hold extends Backend {
  readonly started = new Map<string, TaskContext>();
  constructor(private readonly ids: string[]) {
    super();
  }
  poll(): string | null {
    return this.ids.shift() ?? null;
  }
  startCallback(taskId: string, context: TaskContext): void {
    this.started.set(taskId, context);
  }
}

export interface KeepaliveOptions {
  stores: readonly StoreKind[];
  /** Concurrent callers (and running tasks) of the concurrent measurement. */
  concurrency: number;
  durationMs: number;
}

export async function keepaliveStop(services: Services, options: KeepaliveOptions): Promise<Row[]> {
  const rows: Row[] = [];
  for (const store of options.stores) {
    const { options: storeOptions, counter } = await countedStore(services, store);
    const n = options.concurrency;
    const taskIds = Array.from({ length: n }, (_, i) => `task-${i + 1}`);
    const backend = new Hold([...taskIds]);
    const scheduler = new Scheduler({ name: uniqueName('ka'), timeout: '5m', ...storeOptions });
    scheduler.registerBackend('Hold', backend);
    try {
      await scheduler.load(taskIds.map((_, i) => ({ slotId: i + 1, backends: ['Hold'] })));
      await scheduler.schedule();
      if (backend.started.size !== n) throw new Error(`expected ${n} running tasks, got ${backend.started.size}`);

      const keepalive = async (taskId: string) => {
        const outcome = await scheduler.keepalive(taskId);
        if (!outcome.ok) throw new Error(`keepalive(${taskId}) lost: ${outcome.reason}`);
      };
      await keepalive(taskIds[0]!); // warm: scripts cached, connections open
      counter?.reset();
      await keepalive(taskIds[0]!);
      const keepaliveTrips = counter ? `${counter.total} (${counter.describe()})` : 'none (in process)';

      const sequential = await throughput(1, options.durationMs, () => keepalive(taskIds[0]!));
      const concurrent = await throughput(n, options.durationMs, (worker) => keepalive(taskIds[worker]!));

      // stop(): its own request (which keeps the slot), then the refill round it starts (not awaited by stop).
      const passEnded = once(scheduler, 'refill:end');
      counter?.reset();
      const stopped = await scheduler.stop(taskIds[0]!, { status: 'succeeded' });
      if (!stopped.ok) throw new Error(`stop lost: ${stopped.reason}`);
      const endRequests = counter ? (counter.byName.get(store === 'redis' ? 'end-13' : 'end') ?? 0) : 0;
      await passEnded;
      const stopTrips = counter ? `${endRequests} (stop); with the refill round it starts: ${counter.describe()}` : 'none (in process)';

      rows.push({
        store,
        'keepalive round trips': keepaliveTrips,
        'stop round trips': stopTrips,
        'keepalives/s, 1 caller': fmt(sequential.opsPerSec, 0),
        [`keepalives/s, ${n} callers`]: fmt(concurrent.opsPerSec, 0),
      });
    } finally {
      await scheduler.close();
    }
  }
  return rows;
}
