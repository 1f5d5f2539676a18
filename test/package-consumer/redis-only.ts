// A TypeScript consumer that uses only Redis: the pack test type-checks it in a project with
// ioredis and no pg (nor @types/pg), then runs it: one pass on one Redis slot.
import { Redis } from 'ioredis';
import { Backend, Scheduler, type PassReport } from 'task-semaphore';
import { RedisSlotStore } from 'task-semaphore/slots/redis';

class Nothing extends Backend {
  poll(): string | null {
    return null;
  }
  startCallback(): void {}
}

const [url, name] = process.argv.slice(2) as [string, string];
const client = new Redis(url);
// The store takes the client as the scheduler does; constructing it checks the options only.
new RedisSlotStore({ name, redis: client });
const scheduler = new Scheduler({ name, redis: client, logger: false });
scheduler.registerBackend('Nothing', Nothing);
await scheduler.load([{ slotId: 1, backends: ['Nothing'] }]);
const report: PassReport = await scheduler.schedule();
await scheduler.close();
const keys = await client.keys(`{task-semaphore:${name}}:*`);
if (keys.length > 0) await client.del(...keys);
client.disconnect();
console.log(JSON.stringify({ polls: report.polls, released: report.released }));
