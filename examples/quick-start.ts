// examples/quick-start.ts: 3 slots in memory (no server), 8 report tasks, never more than 3 at once.
import { Scheduler, Backend, type TaskContext, type StopOutcome } from 'task-semaphore';

const pending = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8'];
let running = 0;

class Reports extends Backend {
  // The next task id, or null when there is nothing to run.
  poll() {
    return pending.shift() ?? null;
  }

  // Launch the task and return at once; it reports back with keepalive() and stop().
  startCallback(taskId: string, task: TaskContext) {
    running++;
    console.log(`start ${taskId} in slot ${task.slotId} (${running} running)`);
    const beat = setInterval(() => void task.keepalive(), 100);
    setTimeout(() => {
      clearInterval(beat);
      running--;
      task.stop({ status: 'succeeded' }).catch((error: unknown) => console.error(`stop ${taskId} failed`, error));
    }, 150 + Math.random() * 200);
  }

  override stopCallback(taskId: string, outcome: StopOutcome) {
    console.log(`stop  ${taskId}: ${outcome.reason}, ${outcome.status}`);
  }
}

const scheduler = new Scheduler({ name: 'reports' }); // no store option: MemorySlot
scheduler.registerBackend('Reports', Reports);
await scheduler.load([
  { slotId: 1, backends: ['Reports'], timeout: '5s' },
  { slotId: 2, backends: ['Reports'], timeout: '5s' },
  { slotId: 3, backends: ['Reports'], timeout: '5s', maxRuntime: '1m' },
]);

let stopped = 0;
scheduler.on('task:stop', () => void stopped++);
await scheduler.schedule(); // a freed slot refills at once; a cron tick is the safety net
while (stopped < 8) await new Promise((resolve) => setTimeout(resolve, 50));
await scheduler.close();
console.log('all 8 reports done, at most 3 at a time');
