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
    // A keepalive fails while the store is away: no crash; task.signal says if the slot is lost.
    const beat = setInterval(() => void task.keepalive().catch(() => {}), 100);
    setTimeout(
      () => {
        clearInterval(beat);
        running--;
        task.stop({ status: 'succeeded' }).catch((error: unknown) => console.error(`stop ${taskId} failed`, error));
      },
      150 + Math.random() * 200,
    );
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

// Close once the 8 reports are done, so that the process exits.
let stopped = 0;
scheduler.on('task:stop', () => {
  if (++stopped === 8) void scheduler.close().then(() => console.log('all 8 reports done, at most 3 at a time'));
});
// A pass now and every second; a slot freed by stop() refills at once, without waiting for one.
scheduler.start({ cron: '*/1 * * * * *' });
