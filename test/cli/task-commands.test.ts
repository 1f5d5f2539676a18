/**
 * `keepalive`, `stop`, `cancel` and `status` from the shell, against a scheduler running in this
 * process on the real Redis and PostgreSQL: the answers and exit codes a shell script relies on.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Backend, Scheduler } from '../../src/index.js';
import { databaseUrl, freshSchema, connectPostgres, redisUrl, uniqueName } from '../helpers/services.js';
import { cliPath, runCli } from './run-cli.js';

const workBackend = fileURLToPath(new URL('../fixtures/run/work-backend.js', import.meta.url));

/** Hands out the ids it is given; the tasks run elsewhere (here: in the CLI calls of the test). */
class Queue extends Backend {
  readonly ids: string[] = [];
  poll() {
    return this.ids.shift() ?? null;
  }
  startCallback() {}
}

interface Store {
  label: string;
  flags: () => Promise<{ args: string[]; options: Record<string, string> }>;
}

const stores: Store[] = [
  {
    label: 'Redis',
    flags: async () => {
      const keyPrefix = uniqueName('cli');
      return { args: ['--redis', redisUrl, '--key-prefix', keyPrefix], options: { redis: redisUrl, keyPrefix } };
    },
  },
  {
    label: 'PostgreSQL',
    flags: async () => {
      const pool = await connectPostgres({ max: 1 });
      const schema = await freshSchema(pool);
      await pool.end();
      return { args: ['--postgres', databaseUrl, '--postgres-schema', schema], options: { postgres: databaseUrl, postgresSchema: schema } };
    },
  },
];

for (const store of stores) {
  test(`${store.label}: keepalive, cancel and stop from the shell answer with the documented exit codes`, async (t) => {
    const { args, options } = await store.flags();
    const name = uniqueName('cli');
    const scheduler = new Scheduler({ name, logger: false, timeout: '1m', ...options });
    t.teardown(() => scheduler.close());
    const queue = new Queue();
    queue.ids.push('report-1');
    scheduler.registerBackend('queue', queue);
    await scheduler.load([
      { slotId: 1, backends: ['queue'] },
      { slotId: 2, backends: ['queue'] },
    ]);
    t.like(await scheduler.schedule(), { started: 1 });
    const [occupancy] = (await scheduler.inspect()).flatMap((slot) => (slot.occupancy ? [slot.occupancy] : []));
    const conn = ['--name', name, ...args];

    const alive = await runCli(['keepalive', 'report-1', ...conn]);
    t.is(alive.code, 0, alive.stderr);
    t.regex(alive.stdout, /^report-1 holds slot 1 \(token \d+\); deadline in 1m00s\n$/);

    const json = await runCli(['keepalive', 'report-1', '--token', String(occupancy!.token), '--json', ...conn]);
    t.is(json.code, 0, json.stderr);
    t.like(JSON.parse(json.stdout), { ok: true, taskId: 'report-1', slotId: '1', token: occupancy!.token, cancelRequested: false });

    const wrongToken = await runCli(['keepalive', 'report-1', '--token', String(occupancy!.token + 1), ...conn]);
    t.is(wrongToken.code, 4, 'another occupancy of the id is unknown');

    const status = await runCli(['status', ...conn]);
    t.is(status.code, 0, status.stderr);
    t.regex(status.stdout, /^SLOT\s+STATE\s+TASK\s+BACKEND\s+HOST\s+PID\s+STARTED\s+KEEPALIVE\s+LEFT\s+TOKEN\n/);
    t.regex(status.stdout, new RegExp(`\\n1\\s+running\\s+report-1\\s+queue\\s+${hostname()}\\s+${process.pid}\\s`));
    t.regex(status.stdout, /\n2\s+idle\s+-/);
    t.regex(status.stdout, /2 slots, 1 running\n$/);
    const statusJson = JSON.parse((await runCli(['status', '--json', ...conn])).stdout);
    t.like(statusJson[0], {
      slotId: '1',
      status: 'running',
      holder: { host: hostname(), pid: process.pid },
      occupancy: { taskId: 'report-1' },
    });
    t.true(statusJson[0].timeLeftMs > 50_000 && statusJson[0].timeLeftMs <= 60_000);

    t.like(await runCli(['cancel', 'report-1', ...conn]), {
      code: 0,
      stdout: `cancel requested for report-1 in slot 1 (token ${occupancy!.token})\n`,
    });
    t.regex((await runCli(['cancel', 'report-1', ...conn])).stdout, /already requested/);
    const told = await runCli(['keepalive', 'report-1', ...conn]);
    t.is(told.code, 5, 'renewed, but the task is asked to stop');
    t.regex(told.stdout, /a cancel was requested: stop the task/);

    const stopped = await runCli(['stop', 'report-1', '--status', 'cancelled', '--error', 'asked to', ...conn]);
    t.is(stopped.code, 0, stopped.stderr);
    t.is(stopped.stdout, `report-1 ended (cancelled); slot 1 is free (token ${occupancy!.token})\n`);

    const late = await runCli(['keepalive', 'report-1', ...conn]);
    t.is(late.code, 3);
    t.regex(late.stdout, /report-1 no longer holds a slot: it ended \(cancelled\) in slot 1/);
    const again = await runCli(['stop', 'report-1', '--json', ...conn]);
    t.is(again.code, 3);
    t.like(JSON.parse(again.stdout), { ok: false, reason: 'ended', endReason: 'cancelled' });

    const unknown = await runCli(['keepalive', 'never-started', ...conn]);
    t.is(unknown.code, 4);
    t.is(unknown.stdout, 'never-started is unknown: no slot holds it and no end of it is kept\n');
  });
}

test('bad input exits 2 naming the field, the value and what is allowed', async (t) => {
  const conn = ['--name', 'x', '--redis', redisUrl];
  const badToken = await runCli(['keepalive', 'a', '--token', '1.5', ...conn]);
  t.is(badToken.code, 2);
  t.regex(badToken.stderr, /'--token <n>' argument '1\.5' is invalid\. allowed: an integer fencing token/);
  const badId = await runCli(['stop', 'x'.repeat(1025), ...conn]);
  t.is(badId.code, 2);
  t.regex(badId.stderr, /taskId: .*is 1025 UTF-8 bytes long, over the maximum of 1024/);
  const noName = await runCli(['keepalive', 'a', '--redis', redisUrl], { TASK_SEMAPHORE_NAME: '' });
  t.is(noName.code, 2);
  t.regex(noName.stderr, /--name: .*allowed: the scheduler name/);
  const noStore = await runCli(['status', '--name', 'x'], { TASK_SEMAPHORE_REDIS: '', TASK_SEMAPHORE_POSTGRES: '' });
  t.is(noStore.code, 2);
  t.regex(noStore.stderr, /MemorySlot slots live in one process/);
  // A config of memory slots: this process would read a memory store of its own, where every task is unknown.
  const memoryConfig = join(mkdtempSync(join(tmpdir(), 'ts-cli-')), 'memory.json');
  writeFileSync(
    memoryConfig,
    JSON.stringify({
      scheduler: { name: 'x' },
      slots: [{ slotIds: '1-2', backends: ['b'] }],
      backends: { b: { module: workBackend, export: 'WorkBackend', options: { tasks: [] } } },
    }),
  );
  for (const command of [['keepalive', 'a'], ['status']]) {
    const memory = await runCli([...command, '--config', memoryConfig]);
    t.is(memory.code, 2, command.join(' '));
    t.regex(memory.stderr, /^--config: got ".*memory\.json"; its slots are all MemorySlot slots, which live in one process/);
  }
  const badName = await runCli(['status', '--name', 'no spaces please', '--redis', redisUrl]);
  t.is(badName.code, 2);
  t.regex(badName.stderr, /name: got "no spaces please"; allowed: 1 to 100 letters/);
  const both = await runCli(['status', '--config', 'a.json', '--redis', redisUrl]);
  t.is(both.code, 2);
  t.regex(both.stderr, /--config: got "a\.json"; allowed: --config or --redis\/--postgres, not both/);
  const unknownOption = await runCli(['status', '--nmae', 'x']);
  t.is(unknownOption.code, 2);
  t.regex(unknownOption.stderr, /unknown option '--nmae'/);
});

test('an unreachable store exits 1 and says which store, without its password', async (t) => {
  const result = await runCli(['keepalive', 'a', '--name', 'x', '--redis', 'redis://user:secret@127.0.0.1:1']);
  t.is(result.code, 1);
  t.notRegex(result.stderr, /secret/);
  t.regex(result.stderr, /127\.0\.0\.1:1/);
});

test('the environment gives the connection; a store typed on the command line wins over an env config', async (t) => {
  const name = uniqueName('cli');
  const keyPrefix = uniqueName('cli');
  const scheduler = new Scheduler({ name, redis: redisUrl, keyPrefix, logger: false });
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('queue', new Queue());
  await scheduler.load([{ slotId: 'a', backends: ['queue'] }]);
  const env = {
    TASK_SEMAPHORE_NAME: name,
    TASK_SEMAPHORE_REDIS: redisUrl,
    TASK_SEMAPHORE_KEY_PREFIX: keyPrefix,
    TASK_SEMAPHORE_CONFIG: '',
  };
  const result = await runCli(['status', '--json'], env);
  t.is(result.code, 0, result.stderr);
  t.like(JSON.parse(result.stdout), [{ slotId: 'a', status: 'idle' }]);
  const typed = await runCli(['status', '--json', '--redis', redisUrl], { ...env, TASK_SEMAPHORE_CONFIG: '/nowhere/task-semaphore.json' });
  t.is(typed.code, 0, typed.stderr);
  const wrongPrefix = await runCli(['status'], { ...env, TASK_SEMAPHORE_KEY_PREFIX: 'nothing-here' });
  t.is(wrongPrefix.code, 0);
  t.regex(wrongPrefix.stderr, new RegExp(`no slots of "${name}" in this store: check the name, --key-prefix or --postgres-schema`));
});

test('status --watch refreshes until interrupted, then exits 0', async (t) => {
  const child = spawn(
    process.execPath,
    [cliPath, 'status', '--watch', '0.2', '--json', '--name', uniqueName('watch'), '--redis', redisUrl],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const deadline = Date.now() + 15_000;
  while (out.split('\n').length < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  child.kill('SIGINT');
  t.is(await exited, 0);
  const refreshes = out.trim().split('\n');
  t.true(refreshes.length >= 3, out);
  for (const line of refreshes) t.deepEqual(JSON.parse(line), []);
});
