/**
 * A process whose scheduler is given no logger (argv[2] `default`) or `logger: false` (`silent`):
 * one pass polls a backend that throws (an error line) and starts a task from another (an info
 * line), then the process exits. The test reads what reached stderr.
 */
import { Backend } from '../../src/contracts/backend.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';

class Broken extends Backend {
  poll(): string {
    throw new Error('reports database is down');
  }
  startCallback(): void {}
}

class Working extends Backend {
  private given = false;
  poll(): string | null {
    if (this.given) return null;
    this.given = true;
    return 'task-1';
  }
  startCallback(): void {}
}

const scheduler = new Scheduler({ name: 'logging-process', ...(process.argv[2] === 'silent' ? { logger: false } : {}) });
scheduler.registerBackend('Broken', Broken).registerBackend('Working', Working);
await scheduler.load([{ slotId: 1, backends: ['Broken', 'Working'] }]);
const report = await scheduler.schedule();
await scheduler.close();
// stdout is the application's: the report only, so the test can tell it from the log lines.
console.log(JSON.stringify({ started: report.started }));
