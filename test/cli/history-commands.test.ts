/**
 * `history` and `purge` from the shell, on the real Redis and PostgreSQL: the records of a known
 * sequence of tasks, each filter, and purge refusing while a task runs.
 */
import test from 'ava';
import { Backend, Scheduler, type TaskContext } from '../../src/index.js';
import { connectPostgres, databaseUrl, freshSchema, redisUrl, uniqueName } from '../helpers/services.js';
import { runCli } from './run-cli.js';

class Queue extends Backend {
  readonly ids: string[] = [];
  readonly tasks = new Map<string, TaskContext>();
  poll() {
    return this.ids.shift() ?? null;
  }
  startCallback(taskId: string, task: TaskContext) {
    this.tasks.set(taskId, task);
  }
}

const stores = [
  { label: 'Redis', flags: async () => ({ redis: redisUrl, keyPrefix: uniqueName('hist') }) },
  {
    label: 'PostgreSQL',
    flags: async () => {
      const pool = await connectPostgres({ max: 1 });
      const postgresSchema = await freshSchema(pool);
      await pool.end();
      return { postgres: databaseUrl, postgresSchema };
    },
  },
];

const cliFlags = (options: Record<string, string>) =>
  Object.entries(options).flatMap(([key, value]) => [`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, value]);

for (const store of stores) {
  test(`${store.label}: history lists each occupancy with filters; purge refuses while a task runs`, async (t) => {
    const options = await store.flags();
    const name = uniqueName('hist');
    const scheduler = new Scheduler({ name, logger: false, ...options });
    t.teardown(() => scheduler.close().catch(() => {}));
    const queue = new Queue();
    queue.ids.push('ok-1', 'bad-2', 'long-3');
    scheduler.registerBackend('reports', queue);
    await scheduler.load([1, 2, 3].map((slotId) => ({ slotId, backends: ['reports'] })));
    t.like(await scheduler.schedule(), { started: 3 });
    await queue.tasks.get('ok-1')!.stop({ status: 'succeeded' });
    await queue.tasks.get('bad-2')!.stop({ status: 'failed', error: 'disk full' });
    const conn = ['--name', name, ...cliFlags(options)];
    const json = async (...args: string[]) => {
      const result = await runCli(['history', '--json', ...args, ...conn]);
      t.is(result.code, 0, result.stderr);
      return (JSON.parse(result.stdout) as Array<{ taskId: string }>).map((r) => r.taskId).sort();
    };

    const all = await runCli(['history', ...conn]);
    t.is(all.code, 0, all.stderr);
    t.regex(all.stdout, /^TASK\s+TOKEN\s+SLOT\s+BACKEND\s+OUTCOME\s+REASON\s+STATUS\s+HOLDER\s+STARTED\s+RAN\s+KEEPALIVES\s+ERROR\n/);
    t.regex(all.stdout, /\nbad-2\s+\d+\s+\d\s+reports\s+failed\s+stopped\s+failed\s+\S+:\d+:[0-9a-f]+\s+\S+\s+\S+\s+0\s+disk full\n/);
    t.regex(all.stdout, /\nlong-3\s+\d+\s+\d\s+reports\s+running\s+-\s+-\s/);
    t.regex(all.stdout, /3 records\n$/);

    t.deepEqual(await json(), ['bad-2', 'long-3', 'ok-1']);
    t.deepEqual(await json('ok-1'), ['ok-1']);
    t.deepEqual(await json('--outcome', 'failed'), ['bad-2']);
    t.deepEqual(await json('--outcome', 'failed,running'), ['bad-2', 'long-3'], 'values of one field are ORed');
    t.deepEqual(await json('--outcome', 'failed', '--outcome', 'succeeded'), ['bad-2', 'ok-1']);
    t.deepEqual(await json('--outcome', 'failed', '--backend', 'other'), [], 'fields are ANDed');
    t.deepEqual(await json('--status', 'succeeded'), ['ok-1']);
    const cells = (taskId: string) =>
      all.stdout
        .split('\n')
        .find((line) => line.startsWith(`${taskId} `))!
        .split(/\s+/);
    const holder = cells('long-3')[7]!;
    t.is(holder, scheduler.owner, 'HOLDER shows the holder whole');
    t.deepEqual(await json('--holder', holder, '--holder', 'elsewhere:1:a'), ['bad-2', 'long-3', 'ok-1'], 'as --holder takes it');
    t.deepEqual(await json('--slot', `${cells('long-3')[2]},${cells('ok-1')[2]}`), ['long-3', 'ok-1']);
    t.deepEqual(await json('--reason', 'stopped', '--ended-after', '1h', '--ended-before', '2099-01-01'), ['bad-2', 'ok-1']);
    t.deepEqual(await json('--started-after', '1h'), ['bad-2', 'long-3', 'ok-1']);
    t.deepEqual(await json('--started-after', '2099-01-01'), []);
    t.deepEqual(await json('--limit', '1').then((ids) => ids.length), 1);

    const badOutcome = await runCli(['history', '--outcome', 'exploded', ...conn]);
    t.is(badOutcome.code, 2);
    t.regex(badOutcome.stderr, /^--outcome: got "exploded"; allowed: "running", "succeeded"/);
    const badTime = await runCli(['history', '--ended-before', 'yesterday', ...conn]);
    t.is(badTime.code, 2);
    t.regex(badTime.stderr, /--ended-before <time>' argument 'yesterday' is invalid\. allowed: an ISO date or time/);

    const refused = await runCli(['purge', name, ...cliFlags(options)]);
    t.is(refused.code, 1);
    t.regex(
      refused.stderr,
      new RegExp(`refused: "${name}" is in use: slot \\d runs long-3 \\(.+\\)\\. Stop its schedulers first, or purge --force`),
    );
    t.like(await scheduler.keepalive('long-3'), { ok: true }, 'a refused purge changes nothing');

    const forced = await runCli(['purge', name, '--force', ...cliFlags(options)]);
    t.is(forced.code, 0, forced.stderr);
    t.is(forced.stdout, `purged "${name}": 3 slots removed; 1 running tasks lost their slots\n`);
    t.deepEqual(await json(), []);
    t.like(await scheduler.keepalive('long-3'), { ok: false, reason: 'unknown' });
  });
}
