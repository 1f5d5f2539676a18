/**
 * A store that fails after `load()` never hands the user its client's raw error: a connection that
 * is refused or cut is a StoreUnavailableError naming where the store is (password hidden), any
 * other failure a StoreError naming the store and the operation; the raw error stays the `cause`.
 * Real Redis and PostgreSQL, behind a TCP proxy that refuses connections, and with their state
 * broken on purpose (a key of the wrong type, a dropped table).
 */
import test from 'ava';
import { Redis } from 'ioredis';
import { StoreError, StoreUnavailableError } from '../../src/core/errors.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { ScriptedBackend } from '../../src/testing/scheduler-kit.js';
import { connectPostgres, connectRedis, freshSchema, redisUrl, uniqueName } from '../helpers/services.js';
import { postgresProxy, redisProxy } from '../helpers/tcp-proxy.js';

/** A loaded scheduler with one slot and one running task, to call keepalive and schedule on. */
async function loaded(scheduler: Scheduler): Promise<void> {
  scheduler.registerBackend('A', new ScriptedBackend(['task-1']));
  await scheduler.load([{ slotId: 1, backends: ['A'] }]);
  await scheduler.schedule();
}

test('redis: a store that cannot be reached after load() rejects with StoreUnavailableError, the raw error as its cause', async (t) => {
  const { proxy, url } = await redisProxy(t);
  const keyPrefix = uniqueName('failures');
  // A URL with a password, so the message shows it is hidden; the server has none to check.
  const client = new Redis(url.replace('redis://', 'redis://:s3cret@'), { maxRetriesPerRequest: 0, lazyConnect: true });
  client.on('error', () => {});
  await client.connect().catch(() => {});
  t.teardown(() => client.disconnect());
  const scheduler = new Scheduler({ name: uniqueName('failures'), redis: client, keyPrefix, logger: false });
  t.teardown(() => scheduler.close().catch(() => {}));
  await loaded(scheduler);

  proxy.refuse(true);
  proxy.cut();
  const error = await t.throwsAsync(scheduler.keepalive('task-1'), { instanceOf: StoreUnavailableError });
  t.is(error.code, 'ERR_STORE_UNAVAILABLE');
  t.regex(error.message, /^cannot reach Redis at /);
  t.notRegex(error.message, /s3cret/);
  t.true(error.cause instanceof Error, 'the raw error is kept');
  await t.throwsAsync(scheduler.schedule(), { instanceOf: StoreUnavailableError });
});

test('redis: a store whose keys were broken by hand rejects with StoreError naming the script', async (t) => {
  const direct = await connectRedis();
  const keyPrefix = uniqueName('failures');
  const name = uniqueName('failures');
  t.teardown(async () => {
    const keys = await direct.keys(`{${keyPrefix}:*`);
    if (keys.length) await direct.del(...keys);
    direct.disconnect();
  });
  const scheduler = new Scheduler({ name, redis: redisUrl, keyPrefix, logger: false });
  t.teardown(() => scheduler.close());
  await loaded(scheduler);
  // Someone replaced the slots hash with a string: every script that reads it fails in Redis.
  await direct.set(`{${keyPrefix}:${name}}:slots`, 'not a hash');
  const error = await t.throwsAsync(scheduler.schedule(), { instanceOf: StoreError });
  t.is(error.code, 'ERR_STORE');
  t.is(error.operation, 'begin-pass-13');
  t.regex(error.message, /^Redis at .* failed in begin-pass-13: .*WRONGTYPE/);
  t.regex(String((error.cause as Error).message), /WRONGTYPE/);
});

test('postgres: a store that cannot be reached after load() rejects with StoreUnavailableError; a dropped table with StoreError', async (t) => {
  const { proxy, connection } = await postgresProxy(t);
  const pool = await connectPostgres({ max: 2 });
  t.teardown(() => pool.end());
  const schema = await freshSchema(pool);
  const url = `postgres://${connection.user}:s3cret@127.0.0.1:${connection.port}/${connection.database}`;
  const scheduler = new Scheduler({ name: uniqueName('failures'), postgres: url, postgresSchema: schema, logger: false });
  t.teardown(() => scheduler.close().catch(() => {}));
  await loaded(scheduler);

  proxy.refuse(true);
  proxy.cut();
  const unreachable = await t.throwsAsync(scheduler.keepalive('task-1'), { instanceOf: StoreUnavailableError });
  t.regex(unreachable.message, /^cannot reach PostgreSQL at /);
  t.notRegex(unreachable.message, /s3cret/);
  proxy.refuse(false);

  // Back, but someone dropped the slots table.
  await pool.query(`DROP TABLE ${schema}.task_semaphore_slots CASCADE`);
  const failed = await t.throwsAsync(scheduler.schedule(), { instanceOf: StoreError });
  t.is(failed.operation, 'beginPass');
  t.regex(failed.message, /^PostgreSQL at .* failed in beginPass: relation .*task_semaphore_slots.* does not exist/);
  t.is((failed.cause as { code?: string }).code, '42P01', 'the raw error, with its SQLSTATE, is the cause');
});
