// examples/redis-fleet/main.ts: queues 12 reports, starts two worker processes on the same
// 4 Redis slots, and checks that no more than 4 reports ever ran at once.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const queue = `example:reports:${process.pid}`;
const reports = Array.from({ length: 12 }, (_, i) => `report-${i + 1}`);
await redis.rpush(`${queue}:todo`, ...reports);

const worker = fileURLToPath(new URL('./worker.js', import.meta.url));
const env = { ...process.env, QUEUE: queue, TOTAL: String(reports.length) };
const children = [fork(worker, { env }), fork(worker, { env })];
const codes = await Promise.all(children.map((child) => new Promise((resolve) => child.on('exit', resolve))));

const done = await redis.lrange(`${queue}:done`, 0, -1);
const max = Number(await redis.get(`${queue}:max`));
await redis.del(`${queue}:todo`, `${queue}:done`, `${queue}:running`, `${queue}:max`);
const slotKeys = await redis.keys(`{task-semaphore:${queue}:fleet}:*`);
if (slotKeys.length > 0) await redis.del(...slotKeys);
redis.disconnect();
console.log(`${done.length} reports done by 2 processes; at most ${max} ran at once (4 slots)`);
if (codes.some((code) => code !== 0) || done.length !== reports.length || max > 4) process.exit(1);
