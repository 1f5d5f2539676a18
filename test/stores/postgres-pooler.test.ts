/**
 * PostgreSQL slots behind PgBouncer in transaction mode, as Debian ships it (1.18: prepared
 * statements are not tracked, so one prepared on a server connection is missing on the next, or
 * there already under its name). The store's prepared statements must not break there: at the
 * first sign it sends them unnamed, and the fleet goes on with no error.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresSlotStore } from '../../slots/postgres/index.js';
import { Backend, Scheduler, type Logger, type TaskContext } from '../../src/index.js';
import { exited, freePort, until, type Teardown } from '../helpers/own-servers.js';
import { connectPostgres, freshSchema, uniqueName } from '../helpers/services.js';

/** A PgBouncer of the test's own in transaction mode, in front of the shared PostgreSQL; its URL. */
async function ownPgBouncer(t: Teardown): Promise<string> {
  if (spawnSync('pgbouncer', ['--version']).error) {
    throw new Error('pgbouncer is not installed: apt-get install pgbouncer (.ci/run installs it)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'pgbouncer-'));
  const port = await freePort();
  const config = join(dir, 'pgbouncer.ini');
  writeFileSync(join(dir, 'users.txt'), '"postgres" ""\n');
  writeFileSync(
    config,
    [
      '[databases]',
      'test = host=127.0.0.1 port=5432 dbname=test user=postgres',
      '[pgbouncer]',
      `listen_addr = 127.0.0.1`,
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      // Fewer server connections than the scheduler's pool has clients: transactions move between them.
      'default_pool_size = 2',
      'ignore_startup_parameters = extra_float_digits,options',
      '',
    ].join('\n'),
  );
  // PgBouncer refuses to run as root: as root, it is told to switch to the postgres user.
  const root = process.getuid?.() === 0;
  if (root) {
    const { uid, gid } = postgresIds();
    chownSync(dir, uid, gid);
  }
  const child = spawn('pgbouncer', root ? ['-u', 'postgres', config] : [config], { stdio: 'ignore' });
  t.teardown(async () => {
    child.kill('SIGTERM');
    await exited(child);
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `postgres://postgres@127.0.0.1:${port}/test`;
  await until(
    async () => {
      const client = new pg.Client(url);
      await client.connect();
      await client.end();
      return true;
    },
    'pgbouncer to accept connections',
    10_000,
  );
  return url;
}

function postgresIds(): { uid: number; gid: number } {
  const [uid, gid] = ['-u', '-g'].map((flag) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim()));
  return { uid: uid!, gid: gid! };
}

test('behind PgBouncer in transaction mode, with prepared statements on (the default): every task runs, no error', async (t) => {
  const url = await ownPgBouncer(t);
  const admin = await connectPostgres();
  t.teardown(() => admin.end());
  const schema = await freshSchema(admin);
  const ids = Array.from({ length: 200 }, (_, i) => `job-${i}`);
  const queue = [...ids];
  const started: string[] = [];
  const errors: string[] = [];
  let stopped = 0;
  class Jobs extends Backend {
    override readonly claimsTasks = true;
    poll() {
      return queue.shift() ?? null;
    }
    startCallback(taskId: string, task: TaskContext) {
      started.push(taskId);
      setTimeout(
        () =>
          void task.stop().then(
            () => stopped++,
            (error: unknown) => errors.push(`stop of ${taskId}: ${String(error)}`),
          ),
        2,
      );
    }
  }
  const ignore = () => undefined;
  const logger: Logger = { error: (message) => void errors.push(message), warn: ignore, info: ignore, debug: ignore, child: () => logger };
  const scheduler = new Scheduler({ name: uniqueName('pooler'), postgres: url, postgresSchema: schema, logger });
  t.teardown(() => scheduler.close());
  scheduler.on('pass:error', (error) => errors.push(error.message));
  scheduler.registerBackend('jobs', new Jobs());
  await scheduler.load(Array.from({ length: 8 }, (_, i) => ({ slotId: i + 1, backends: ['jobs'] })));
  scheduler.start({ cron: '*/1 * * * * *' });
  await until(async () => stopped + errors.length >= ids.length, 'every task to start and stop', 30_000);
  t.deepEqual([...started].sort(), [...ids].sort());
  t.deepEqual(errors, []);
});

test('behind PgBouncer in transaction mode, named statements that fail together on their first calls are each sent again', async (t) => {
  const url = await ownPgBouncer(t);
  const admin = await connectPostgres();
  t.teardown(() => admin.end());
  const schema = await freshSchema(admin);
  const name = uniqueName('pooler');
  const setup = new PostgresSlotStore({ name, postgres: admin, schema });
  await setup.init(['1', '2', '3']);
  await setup.close();
  // A fresh store, its statements still named: its first calls go out at once, on up to ten
  // connections that PgBouncer maps onto two server connections, so several fail with 26000
  // or 42P05 before any of them has turned the store to unnamed statements.
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  t.teardown(() => pool.end());
  const store = new PostgresSlotStore({ name, postgres: pool, schema });
  const calls = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => store.keepalive({ taskId: `task-${i}` })));
  t.deepEqual(
    calls.filter((call) => call.status === 'rejected').map((call) => String((call as PromiseRejectedResult).reason)),
    [],
  );
  t.true(calls.every((call) => call.status === 'fulfilled' && !call.value.ok && call.value.reason === 'unknown'));
});
