// examples/python-config.ts: a config written for the Python original loads unchanged
// (snake_case keys; timeout_after in minutes), here from JSON.
import { Scheduler, Backend } from 'task-semaphore';

class MyBackend extends Backend {
  poll() {
    return null; // nothing to run in this example
  }
  startCallback() {}
}

const config = JSON.parse(`[
  {"backends": ["MyBackend"], "slot_cls": "MemorySlot", "slot_id": 1, "slot_kwargs": {"timeout_after": 60}},
  {"backends": ["MyBackend"], "slot_cls": "MemorySlot", "slot_id": 2, "slot_kwargs": {"timeout_after": 60}}
]`);

const scheduler = new Scheduler({ name: 'legacy' });
scheduler.registerBackend('MyBackend', MyBackend);
await scheduler.load(config);
const report = await scheduler.schedule();
console.log(`${(await scheduler.inspect()).length} slots loaded; pass polled ${report.polls} time(s), started ${report.started}`);
await scheduler.close();
