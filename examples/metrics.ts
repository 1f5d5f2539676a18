// examples/metrics.ts: a scheduler's Prometheus metrics, in a prom-client registry.
import { Scheduler, Backend, type TaskContext } from 'task-semaphore';
import { collectMetrics } from 'task-semaphore/http';

class Reports extends Backend {
  private readonly pending = ['r1', 'r2', 'r3'];
  poll() {
    return this.pending.shift() ?? null;
  }
  startCallback(taskId: string, task: TaskContext) {
    task.stop({ status: 'succeeded' }).catch((error: unknown) => console.error(`stop ${taskId} failed`, error));
  }
}

const scheduler = new Scheduler({ name: 'reports' });
scheduler.registerBackend('Reports', Reports);
// Before load(), to count from the first store call; pass { registry } to use a registry of yours.
const metrics = collectMetrics(scheduler);
await scheduler.load([
  { slotId: 1, backends: ['Reports'] },
  { slotId: 2, backends: ['Reports'] },
]);

const allStopped = new Promise<void>((resolve) => {
  let stopped = 0;
  scheduler.on('task:stop', () => ++stopped === 3 && resolve());
});
await scheduler.schedule();
await allStopped;

// What a /metrics route answers, with the content type metrics.registry.contentType.
const text = await metrics.registry.metrics();
console.log(
  text
    .split('\n')
    .filter((line) => line.startsWith('task_semaphore_tasks_'))
    .join('\n'),
);
metrics.close();
await scheduler.close();
