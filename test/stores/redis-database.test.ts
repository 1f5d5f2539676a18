/**
 * The database index of a redis:// URL. ioredis, asked for a database the server lacks, only
 * emits an error and goes on in database 0; the store must refuse instead, naming the URL
 * (password hidden) and the index. Index 99 is past the 16 databases of the shared server, so
 * these tests never write to it.
 */
import test from 'ava';
import { Backend } from '../../src/contracts/backend.js';
import { RedisSlotStore } from '../../slots/redis/index.js';
import { ConfigError } from '../../src/core/errors.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { connectRedis, redisUrl, uniqueName } from '../helpers/services.js';

/** The shared server's URL with another database index, and a password when given. */
function urlWith(database: number, password?: string): string {
  const url = new URL(redisUrl);
  url.pathname = `/${database}`;
  if (password !== undefined) url.password = password;
  return url.toString();
}

class Idle extends Backend {
  poll(): null {
    return null;
  }
  startCallback(): void {}
}

test('a database the server lacks fails init() naming the URL without its password and the index; database 0 stays untouched', async (t) => {
  const redis = await connectRedis(); // database 0
  t.teardown(() => redis.quit());
  const keyPrefix = uniqueName('db');
  const store = new RedisSlotStore({ name: 'n', redis: urlWith(99, 'hunter2'), keyPrefix });
  t.teardown(() => store.close());
  const error = await t.throwsAsync(store.init(['1']), { instanceOf: ConfigError });
  t.is(error.field, 'redis');
  t.regex(error.message, /\/99"; database 99 does not exist on this server \(ERR DB index is out of range\)/);
  t.false(error.message.includes('hunter2') || String(error.value).includes('hunter2'), error.message);
  t.deepEqual(await redis.keys(`{${keyPrefix}:*`), [], 'no slot was written to database 0');
  // init() again fails the same way: no retry falls back to database 0.
  await t.throwsAsync(store.init(['1']), { instanceOf: ConfigError, message: /database 99/ });
  t.deepEqual(await redis.keys(`{${keyPrefix}:*`), []);
});

test('a Scheduler on a database the server lacks fails load() with the same error', async (t) => {
  const scheduler = new Scheduler({ name: uniqueName('db'), redis: urlWith(99), logger: false });
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('Idle', Idle);
  const error = await t.throwsAsync(scheduler.load([{ slotId: 1, backends: ['Idle'] }]), { instanceOf: ConfigError });
  t.regex(error.message, /database 99 does not exist/);
});

test('a database the server has is the one the slots live in', async (t) => {
  const redis = await connectRedis();
  t.teardown(() => redis.quit());
  const keyPrefix = uniqueName('db');
  const store = new RedisSlotStore({ name: 'n', redis: urlWith(3), keyPrefix });
  t.teardown(() => store.close());
  await store.init(['1']);
  const inThree = await redis.duplicate({ db: 3 });
  t.teardown(() => inThree.quit());
  const keys = await inThree.keys(`{${keyPrefix}:*`);
  t.teardown(() => (keys.length > 0 ? inThree.del(...keys) : 0));
  t.deepEqual(keys, [`{${keyPrefix}:n}:slots`]);
  t.deepEqual(await redis.keys(`{${keyPrefix}:*`), [], 'nothing in database 0');
});
