// examples/remote-task/main.ts: fire-and-track. The scheduler starts each task as a separate
// process; the task reports back with keepalive() and stop() through its own Scheduler
// instance, which needs only the store: no config, no backend.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Scheduler, Backend, type TaskContext, type StopOutcome } from 'task-semaphore';

const redis = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const name = `remote-example-${process.pid}`;
const jobs = ['export-1', 'export-2', 'export-3'];
const finished: string[] = [];

class Exports extends Backend {
  poll() {
    return jobs.shift() ?? null;
  }

  // Launch and return: the child process owns the task from here on.
  startCallback(taskId: string, task: TaskContext) {
    const script = fileURLToPath(new URL('./task.js', import.meta.url));
    fork(script, [taskId, String(task.token)], { env: { ...process.env, SCHEDULER_NAME: name } });
  }

  override stopCallback(taskId: string, outcome: StopOutcome) {
    console.log(`${taskId}: ${outcome.reason} (${outcome.status}) after ${outcome.endedAt - outcome.startedAt} ms`);
    finished.push(taskId);
  }
}

const scheduler = new Scheduler({ name, redis, timeout: '10s' });
scheduler.registerBackend('Exports', Exports);
await scheduler.load([{ slotId: 1, backends: ['Exports'] }]); // one slot: one export at a time
scheduler.start({ cron: '*/5 * * * * *' }); // the safety net: stops made elsewhere arrive as store events
while (finished.length < 3) await new Promise((resolve) => setTimeout(resolve, 50));
await scheduler.close();
