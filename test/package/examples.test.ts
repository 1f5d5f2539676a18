/** Runs every example as a user would after `npm run build`, against the real services. */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { connectRedis } from '../helpers/services.js';

const run = promisify(execFile);
const dist = fileURLToPath(new URL('../../', import.meta.url));

async function example(path: string): Promise<string> {
  const { stdout } = await run(process.execPath, [`${dist}examples/${path}`], { timeout: 30_000 });
  return stdout;
}

test('quick-start runs 8 tasks on 3 memory slots, never more than 3 at once', async (t) => {
  const out = await example('quick-start.js');
  const counts = [...out.matchAll(/\((\d+) running\)/g)].map((m) => Number(m[1]));
  t.is(counts.length, 8);
  t.true(Math.max(...counts) <= 3);
  t.regex(out, /all 8 reports done/);
});

test('python-config loads a config of the Python original', async (t) => {
  t.regex(await example('python-config.js'), /2 slots loaded; pass polled 1 time/);
});

test('redis-fleet: two processes share 4 Redis slots', async (t) => {
  (await connectRedis()).disconnect();
  t.regex(await example('redis-fleet/main.js'), /12 reports done by 2 processes; at most [1-4] ran at once/);
});

test('remote-task: tasks in other processes keep alive and stop through the store', async (t) => {
  (await connectRedis()).disconnect();
  const out = await example('remote-task/main.js');
  t.is([...out.matchAll(/export-\d: stopped \(succeeded\)/g)].length, 3);
});

test('procrastinate: a Node worker runs jobs deferred from Node and from SQL, with a retry', async (t) => {
  (await connectRedis()).disconnect();
  const out = await example('procrastinate/worker.js');
  t.deepEqual(out.trim().split('\n'), [
    'mail.send(ops@example.com) attempt 2',
    'reports.build(1) attempt 1',
    'reports.build(2) attempt 1',
    'reports.build(3) attempt 1',
  ]);
});
