// examples/remote-task/task.ts: the task process. It keeps its slot alive while it works and
// frees it when done; if it loses the slot (timeout, cancel), it stops working.
import { Scheduler } from 'task-semaphore';

const [taskId, token] = process.argv.slice(2) as [string, string];
const scheduler = new Scheduler({ name: process.env.SCHEDULER_NAME!, redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });

for (let chunk = 0; chunk < 4; chunk++) {
  await new Promise((resolve) => setTimeout(resolve, 100)); // a chunk of work
  const alive = await scheduler.keepalive(taskId, { token: Number(token) });
  if (!alive.ok || alive.cancelRequested) {
    console.log(`${taskId}: lost the slot (${alive.ok ? 'cancel requested' : alive.reason}), stopping`);
    process.exit(1);
  }
}
await scheduler.stop(taskId, { token: Number(token), status: 'succeeded' });
await scheduler.close();
