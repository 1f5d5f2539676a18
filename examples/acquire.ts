// examples/acquire.ts: a semaphore for work this process already has: at most 2 exports at once,
// fleet-wide, on Redis; callers wait their turn, first come first served.
import { Scheduler } from 'task-semaphore';

const name = `exports-${process.pid}`;
const redis = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const scheduler = new Scheduler({ name, redis });
// Two slots that no backend polls: only acquire() and run() fill them.
await scheduler.load([
  { slotId: 1, backends: [], timeout: '30s' },
  { slotId: 2, backends: [], timeout: '30s' },
]);

let running = 0;
let most = 0;
// run(): waits for a slot, keeps it alive while the function runs, then frees it for the next caller.
const exportOne = (id: string) =>
  scheduler.run(`export-${id}`, async ({ slotId, signal }) => {
    most = Math.max(most, ++running);
    await new Promise((resolve) => setTimeout(resolve, 100));
    running--;
    if (signal.aborted) throw new Error(`export ${id} lost its slot`);
    return `export ${id} done in slot ${slotId}`;
  });
for (const line of await Promise.all(['a', 'b', 'c', 'd', 'e'].map(exportOne))) console.log(line);

// acquire() + stop(): the same, for a task that reports back itself (from anywhere, by its id).
const held = await scheduler.acquire('nightly-report', { wait: false });
if (held.ok) await scheduler.stop('nightly-report', { status: 'succeeded' });
console.log(`nightly-report: ${held.ok ? `ran in slot ${held.slotId}` : held.reason}; at most ${most} exports ran at once`);
await scheduler.close();

// This demo's name is used once: remove what the store keeps of it.
const admin = new Scheduler({ name, redis });
await admin.purge();
await admin.close();
