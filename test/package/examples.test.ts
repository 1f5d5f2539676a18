/** Runs every example as a user would after `npm run build`, against the real services. */
import test from 'ava';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { connectRedis, uniqueName } from '../helpers/services.js';

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

test('metrics: the counters of 3 tasks, as /metrics serves them', async (t) => {
  t.deepEqual((await example('metrics.js')).trim().split('\n'), [
    'task_semaphore_tasks_started_total{scheduler="reports",backend="Reports"} 3',
    'task_semaphore_tasks_ended_total{scheduler="reports",backend="Reports",reason="stopped"} 3',
  ]);
});

test('redis-fleet: two processes share 4 Redis slots', async (t) => {
  (await connectRedis()).disconnect();
  t.regex(await example('redis-fleet/main.js'), /12 reports done by 2 processes; at most [1-4] ran at once/);
});

test('acquire: five exports through two Redis slots, never more than two at once', async (t) => {
  (await connectRedis()).disconnect();
  const lines = (await example('acquire.js')).trim().split('\n');
  t.deepEqual(
    lines.slice(0, 5).map((line) => line.replace(/slot \d/, 'slot N')),
    ['a', 'b', 'c', 'd', 'e'].map((id) => `export ${id} done in slot N`),
  );
  t.regex(lines[5]!, /^nightly-report: ran in slot [12]; at most 2 exports ran at once$/);
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

test('shell-task: task-semaphore run starts shell scripts that keep alive and stop through the CLI', async (t) => {
  const redis = await connectRedis();
  const name = uniqueName('shell');
  await redis.rpush(`${name}:queue`, 'report-1', 'report-2', 'report-3');
  // `task-semaphore` on the PATH, as node_modules/.bin puts it for npm scripts.
  const bin = mkdtempSync(join(tmpdir(), 'ts-bin-'));
  chmodSync(`${dist}src/cli/bin.js`, 0o755);
  symlinkSync(`${dist}src/cli/bin.js`, join(bin, 'task-semaphore'));
  const env = { ...process.env, SHELL_TASKS_NAME: name, PATH: `${bin}:${process.env.PATH}` };
  const cli = `${dist}src/cli/bin.js`;
  const { stdout } = await run(process.execPath, [cli, 'run', '--config', `${dist}examples/shell-task/config.js`, '--until-drained'], {
    env,
    timeout: 60_000,
  });
  // The scripts write nothing to the scheduler's log, which stays one JSON object per line.
  for (const line of stdout.trim().split('\n')) t.notThrows(() => JSON.parse(line), line);
  const history = await run(
    process.execPath,
    [cli, 'history', '--json', '--name', name, '--redis', process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'],
    { env },
  );
  const records = JSON.parse(history.stdout) as Array<{ taskId: string; outcome: string; status: string; keepalives: number }>;
  t.deepEqual(records.map((r) => [r.taskId, r.outcome, r.status, r.keepalives]).sort(), [
    ['report-1', 'succeeded', 'succeeded', 3],
    ['report-2', 'succeeded', 'succeeded', 3],
    ['report-3', 'succeeded', 'succeeded', 3],
  ]);
  const keys = await redis.keys(`{task-semaphore:${name}}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

test('http-task: tasks in Python and in shell keep alive and stop over HTTP', async (t) => {
  const redis = await connectRedis();
  const name = uniqueName('http');
  await redis.rpush(`${name}:queue`, 'py-report-1', 'sh-report-2', 'py-report-3', 'sh-report-4');
  const port = await freePort();
  const env = {
    ...process.env,
    HTTP_TASKS_NAME: name,
    HTTP_PORT: String(port),
    TASK_SEMAPHORE_HTTP_TOKEN: 'examples-test-token-0123456789',
  };
  const cli = `${dist}src/cli/bin.js`;
  const { stdout } = await run(process.execPath, [cli, 'run', '--config', `${dist}examples/http-task/config.js`, '--until-drained'], {
    env,
    timeout: 60_000,
  });
  t.false(stdout.includes(env.TASK_SEMAPHORE_HTTP_TOKEN), 'the token is never logged');
  const history = await run(
    process.execPath,
    [cli, 'history', '--json', '--name', name, '--redis', process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'],
    { env },
  );
  const records = JSON.parse(history.stdout) as Array<{ taskId: string; outcome: string; status: string; keepalives: number }>;
  t.deepEqual(
    records.map((r) => [r.taskId, r.outcome, r.status, r.keepalives]).sort(),
    ['py-report-1', 'py-report-3', 'sh-report-2', 'sh-report-4'].map((id) => [id, 'succeeded', 'succeeded', 3]),
  );
  const keys = await redis.keys(`{task-semaphore:${name}}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

/** A TCP port free now on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('http-server: a program serves its scheduler over HTTP; a task keeps alive and stops through it', async (t) => {
  t.deepEqual((await example('http-server.js')).trim().split('\n'), [
    'keepalive: ok true, cancel requested false',
    'stop: HTTP 200',
    'health: HTTP 200',
  ]);
});
