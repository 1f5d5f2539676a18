// Run inside a project that installed the packed package and ioredis but not pg: each use of
// PostgreSQL must fail with a MissingPeerError saying what to install. Prints the errors as JSON.
import { Backend, Scheduler, isTaskSemaphoreError } from 'task-semaphore';
import { ProcrastinateClient } from 'task-semaphore/backends/procrastinate';

class Nothing extends Backend {
  poll() {
    return null;
  }
  startCallback() {}
}

/** What a user sees of an error: its class, code, the peer it names and its message. */
function seen(error: unknown) {
  const e = error as { name: string; code: string; peer: string; message: string };
  return { name: e.name, code: e.code, peer: e.peer, message: e.message, typed: isTaskSemaphoreError(error) };
}

const scheduler = new Scheduler({ name: 'missing-pg', postgres: process.argv[2]!, logger: false });
scheduler.registerBackend('Nothing', Nothing);
const errors: Record<string, unknown> = {};
try {
  await scheduler.load([{ slotId: 1, slotCls: 'PostgresSlot', backends: ['Nothing'] }]);
} catch (error) {
  errors.load = seen(error);
} finally {
  await scheduler.close();
}
try {
  new ProcrastinateClient({ postgres: process.argv[2]! });
} catch (error) {
  errors.client = seen(error);
}
console.log(JSON.stringify(errors));
