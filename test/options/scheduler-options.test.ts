/** Scheduler options: validated in the constructor, each error naming its option; derived defaults. */
import test, { type ExecutionContext } from 'ava';
import { Backend } from '../../src/contracts/backend.js';
import { MemorySlotStore } from '../../slots/memory/index.js';
import { PostgresSlotStore } from '../../slots/postgres/index.js';
import { ConfigError } from '../../src/core/errors.js';
import { defaults, resolveOptions, type SchedulerOptions } from '../../src/scheduler/options.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { resolveBackendOptions } from '../../backends/procrastinate/backend-options.js';

/** Asserts that `new Scheduler(options)` throws a ConfigError about `field`. */
function rejectsOption(t: ExecutionContext, options: unknown, field: string, value: unknown, mention: string, code = 'ERR_CONFIG'): void {
  const error = t.throws(() => new Scheduler(options as SchedulerOptions), { instanceOf: ConfigError });
  t.is(error.field, field);
  t.deepEqual(error.value, value);
  t.is(error.code, code);
  t.true(error.message.startsWith(`${field}: `), error.message);
  t.true(error.message.includes(mention), `"${mention}" missing from: ${error.message}`);
}

test('only name is required, and the defaults apply', (t) => {
  const resolved = resolveOptions({ name: 'jobs' });
  t.like(resolved, {
    name: 'jobs',
    postgresSchema: 'public',
    keyPrefix: 'task-semaphore',
    redisWaitReplicas: 0,
    defaultSlotClass: 'MemorySlot',
    timeoutMs: 300_000,
    pollTimeoutMs: 10_000,
    callbackTimeoutMs: 30_000,
    reservationTimeoutMs: 60_000,
    endedRetentionMs: 3_600_000,
    reapLimit: 1000,
    maxLocalTasks: Number.POSITIVE_INFINITY,
    shutdownGracefulMs: 20_000,
    shutdownFinalMs: 5000,
  });
  t.regex(resolved.owner, /^.+:\d+:[0-9a-f]{6}$/);
  t.true(Object.isFrozen(defaults));
  const scheduler = new Scheduler({ name: 'jobs', owner: 'me' });
  t.is(scheduler.name, 'jobs');
  t.is(scheduler.owner, 'me');
});

test('two schedulers get different owner ids', (t) => {
  t.not(resolveOptions({ name: 'jobs' }).owner, resolveOptions({ name: 'jobs' }).owner);
});

test('durations in options are parsed', (t) => {
  t.like(
    resolveOptions({
      name: 'n',
      timeout: '2m',
      pollTimeout: 500,
      callbackTimeout: '1s',
      reservationTimeout: '1m30s',
      endedRetention: '1d',
    }),
    {
      timeoutMs: 120_000,
      pollTimeoutMs: 500,
      callbackTimeoutMs: 1000,
      reservationTimeoutMs: 90_000,
      endedRetentionMs: 86_400_000,
    },
  );
});

test('a missing or bad name is rejected, naming the option', (t) => {
  for (const name of [undefined, '', 'my jobs', 'jobs/1', 'x'.repeat(101), 42]) {
    rejectsOption(t, { name }, 'name', name, 'allowed');
  }
  rejectsOption(t, {}, 'name', undefined, 'undefined');
  rejectsOption(t, { name: 'my jobs' }, 'name', 'my jobs', '"my jobs"');
});

test('options that are not an object are rejected', (t) => {
  for (const options of [undefined, null, 'jobs']) {
    const error = t.throws(() => new Scheduler(options as unknown as SchedulerOptions), { instanceOf: ConfigError });
    t.is(error.field, 'options');
  }
});

test('reservationTimeout must be longer than pollTimeout', (t) => {
  rejectsOption(t, { name: 'n', pollTimeout: '60s' }, 'reservationTimeout', '60s', 'pollTimeout');
  rejectsOption(t, { name: 'n', pollTimeout: '10s', reservationTimeout: '5s' }, 'reservationTimeout', '5s', '10000 ms');
  rejectsOption(t, { name: 'n', pollTimeout: 2000, reservationTimeout: 2000 }, 'reservationTimeout', 2000, 'pollTimeout');
  t.notThrows(() => new Scheduler({ name: 'n', pollTimeout: 2000, reservationTimeout: 2001 }));
  t.notThrows(() => new Scheduler({ name: 'n', pollTimeout: '2m', reservationTimeout: '5m' }));
});

test('deliveryLease defaults to 4 × callbackTimeout and must be longer than twice callbackTimeout', (t) => {
  t.is(resolveOptions({ name: 'n' }).deliveryLeaseMs, 120_000);
  t.is(resolveOptions({ name: 'n', callbackTimeout: '1m' }).deliveryLeaseMs, 240_000);
  t.is(resolveOptions({ name: 'n', callbackTimeout: '1s', deliveryLease: '2001ms' }).deliveryLeaseMs, 2001);
  rejectsOption(t, { name: 'n', deliveryLease: '1m' }, 'deliveryLease', '1m', 'twice callbackTimeout (60000 ms)');
  rejectsOption(t, { name: 'n', callbackTimeout: 1000, deliveryLease: 2000 }, 'deliveryLease', 2000, 'callbackTimeout');
  rejectsOption(t, { name: 'n', deliveryLease: 'later' }, 'deliveryLease', 'later', '"later"', 'ERR_BAD_DURATION');
});

test('a bad reapLimit is rejected, naming the option', (t) => {
  for (const reapLimit of [0, -1, 1.5, Number.NaN, '100', 2 ** 60]) {
    rejectsOption(t, { name: 'n', reapLimit }, 'reapLimit', reapLimit, 'positive integer');
  }
  t.is(resolveOptions({ name: 'n', reapLimit: 1 }).reapLimit, 1);
});

test('a bad maxLocalTasks is rejected, naming the option', (t) => {
  for (const maxLocalTasks of [0, -1, 1.5, Number.NaN, '2', Number.NEGATIVE_INFINITY]) {
    rejectsOption(t, { name: 'n', maxLocalTasks }, 'maxLocalTasks', maxLocalTasks, 'positive integer, or Infinity');
  }
  t.is(resolveOptions({ name: 'n', maxLocalTasks: 3 }).maxLocalTasks, 3);
});

test('shutdownGraceful and shutdownFinal are durations, 0 allowed (no wait)', (t) => {
  t.like(resolveOptions({ name: 'n', shutdownGraceful: 0, shutdownFinal: '1m' }), { shutdownGracefulMs: 0, shutdownFinalMs: 60_000 });
  for (const option of ['shutdownGraceful', 'shutdownFinal']) {
    for (const value of [-1, 'soon', null]) rejectsOption(t, { name: 'n', [option]: value }, option, value, 'allowed', 'ERR_BAD_DURATION');
  }
});

test('a bad keyPrefix is rejected, naming the option', (t) => {
  for (const keyPrefix of ['', 'my prefix', 'a{b}', 'x'.repeat(101), 7]) {
    rejectsOption(t, { name: 'n', keyPrefix }, 'keyPrefix', keyPrefix, 'allowed');
  }
  t.is(resolveOptions({ name: 'n', keyPrefix: 'app:sem' }).keyPrefix, 'app:sem');
});

test('a bad redisWaitReplicas is rejected, naming the option', (t) => {
  for (const redisWaitReplicas of [-1, 1.5, '1', Number.NaN, Number.POSITIVE_INFINITY]) {
    rejectsOption(t, { name: 'n', redisWaitReplicas }, 'redisWaitReplicas', redisWaitReplicas, 'allowed: a whole number of replicas');
  }
  t.is(resolveOptions({ name: 'n', redisWaitReplicas: 2 }).redisWaitReplicas, 2);
});

test('a bad postgresSchema is rejected, naming the option', (t) => {
  for (const postgresSchema of ['', '1abc', 'my-schema', 'a; DROP TABLE x', 'x'.repeat(64)]) {
    rejectsOption(t, { name: 'n', postgresSchema }, 'postgresSchema', postgresSchema, 'identifier');
  }
});

test('the PostgreSQL store takes the same schema names as the scheduler option: identifiers PostgreSQL keeps as written', (t) => {
  for (const schema of ['bad-name', 'x'.repeat(64), '1st', '']) {
    const error = t.throws(() => new PostgresSlotStore({ name: 'n', postgres: 'postgres://localhost/db', schema }), {
      instanceOf: ConfigError,
    });
    t.regex(error.message, /schema: got .*; allowed: a PostgreSQL identifier/);
  }
  t.notThrows(() => new PostgresSlotStore({ name: 'n', postgres: 'postgres://localhost/db', schema: 'jobs_2' }));
});

test('bad durations are rejected, naming the option', (t) => {
  const bad = 'ERR_BAD_DURATION';
  rejectsOption(t, { name: 'n', timeout: '5 minutes' }, 'timeout', '5 minutes', '"5 minutes"', bad);
  rejectsOption(t, { name: 'n', pollTimeout: 'abc' }, 'pollTimeout', 'abc', '"abc"', bad);
  rejectsOption(t, { name: 'n', callbackTimeout: -1 }, 'callbackTimeout', -1, '-1', bad);
  rejectsOption(t, { name: 'n', endedRetention: '1 hour' }, 'endedRetention', '1 hour', '"1 hour"', bad);
  // reservationTimeout's own parse error is a duration error too.
  const error = t.throws(() => new Scheduler({ name: 'n', reservationTimeout: 'soon' }), { instanceOf: ConfigError });
  t.is(error.field, 'reservationTimeout');
  t.is(error.code, 'ERR_BAD_DURATION');
});

// --- defaultSlotClass ------------------------------------------------------------------------------

test('defaultSlotClass follows the store options', (t) => {
  t.is(resolveOptions({ name: 'n' }).defaultSlotClass, 'MemorySlot');
  t.is(resolveOptions({ name: 'n', redis: 'redis://127.0.0.1:6379' }).defaultSlotClass, 'RedisSlot');
  t.is(resolveOptions({ name: 'n', postgres: 'postgres://127.0.0.1/test' }).defaultSlotClass, 'PostgresSlot');
  // Both given: Redis wins, as documented.
  t.is(resolveOptions({ name: 'n', redis: 'redis://h', postgres: 'postgres://h/db' }).defaultSlotClass, 'RedisSlot');
  // An explicit choice wins over both.
  t.is(resolveOptions({ name: 'n', redis: 'redis://h', defaultSlotClass: 'MemorySlot' }).defaultSlotClass, 'MemorySlot');
});

class Idle extends Backend {
  poll(): null {
    return null;
  }
  startCallback(): void {}
}

/** Loads a slot without slotCls, with the named slot class served by a memory store, and returns the class inspect() reports. */
async function slotClassUsed(options: SchedulerOptions, stand: string): Promise<string | undefined> {
  const scheduler = new Scheduler(options);
  try {
    // Stand a memory store in for the named class, so that nothing connects.
    scheduler.registerSlotClass(stand, () => new MemorySlotStore());
    scheduler.registerBackend('idle', Idle);
    await scheduler.load([{ slotId: 1, backends: ['idle'] }]);
    const [slot] = await scheduler.inspect();
    return slot?.slotCls;
  } finally {
    await scheduler.close();
  }
}

test('a slot without slotCls uses the class derived from the store options', async (t) => {
  t.is(await slotClassUsed({ name: 'n', postgres: 'postgres://nowhere.invalid/db' }, 'PostgresSlot'), 'PostgresSlot');
  t.is(await slotClassUsed({ name: 'n', redis: 'redis://nowhere.invalid:6379' }, 'RedisSlot'), 'RedisSlot');
  t.is(await slotClassUsed({ name: 'n' }, 'MemorySlot'), 'MemorySlot');
  t.is(await slotClassUsed({ name: 'n', redis: 'redis://nowhere.invalid:6379', defaultSlotClass: 'Mine' }, 'Mine'), 'Mine');
});

test('a RedisSlot without the redis option is a ConfigError naming redis', async (t) => {
  const scheduler = new Scheduler({ name: 'n' });
  scheduler.registerBackend('idle', Idle);
  const error = await t.throwsAsync(scheduler.load([{ slotId: 1, slotCls: 'RedisSlot', backends: ['idle'] }]), { instanceOf: ConfigError });
  t.is(error.field, 'redis');
  await scheduler.close();
});

test('a PostgresSlot without the postgres option is a ConfigError naming postgres', async (t) => {
  const scheduler = new Scheduler({ name: 'n' });
  scheduler.registerBackend('idle', Idle);
  const error = await t.throwsAsync(scheduler.load([{ slotId: 1, slotCls: 'PostgresSlot', backends: ['idle'] }]), {
    instanceOf: ConfigError,
  });
  t.is(error.field, 'postgres');
  await scheduler.close();
});

// --- connections and logger ----------------------------------------------------------------------

test('a redis option that is not a redis:// or rediss:// URL, or names a database that is no integer, is rejected', (t) => {
  for (const redis of ['localhost:6379', 'http://localhost:6379', 'postgres://localhost/db', '', 42, {}]) {
    rejectsOption(t, { name: 'n', redis }, 'redis', redis, 'redis:// or rediss://');
  }
  rejectsOption(t, { name: 'n', redis: 'redis://localhost:6379/abc' }, 'redis', 'redis://localhost:6379/abc', 'whole number');
  rejectsOption(t, { name: 'n', redis: 'redis://localhost:6379/1.5' }, 'redis', 'redis://localhost:6379/1.5', 'whole number');
  // The password never shows, neither in the message nor in the error's value.
  const error = t.throws(() => new Scheduler({ name: 'n', redis: 'http://:hunter2@localhost' }), { instanceOf: ConfigError });
  t.false(error.message.includes('hunter2') || String(error.value).includes('hunter2'), error.message);
  for (const redis of ['redis://localhost', 'redis://localhost:6379/', 'rediss://u:p@h:6380/15'])
    t.notThrows(() => resolveOptions({ name: 'n', redis }));
});

test('a postgres option that is not a postgres:// or postgresql:// URL is rejected', (t) => {
  for (const postgres of ['localhost:5432', 'mysql://localhost/db', 'host=localhost dbname=x', 42]) {
    rejectsOption(t, { name: 'n', postgres }, 'postgres', postgres, 'postgres:// or postgresql://');
  }
  for (const postgres of ['postgres://localhost/db', 'postgresql://u@h:5433/db'])
    t.notThrows(() => resolveOptions({ name: 'n', postgres }));
});

test('logger: false silences; a logger without the winston methods is rejected', (t) => {
  const silent = resolveOptions({ name: 'n', logger: false }).logger;
  t.is(silent.child({}), silent);
  const mine = { error() {}, warn() {}, info() {}, debug() {}, child: () => mine };
  t.is(resolveOptions({ name: 'n', logger: mine }).logger, mine);
  rejectsOption(t, { name: 'n', logger: console }, 'logger', console, 'false to log nothing');
  rejectsOption(t, { name: 'n', logger: true }, 'logger', true, 'winston logger');
});

test('one duration format: the Procrastinate options take strings or milliseconds', (t) => {
  const options = resolveBackendOptions({
    postgres: 'postgres://h/db',
    queues: ['q'],
    tasks: { t: () => {} },
    shutdownGrace: '1m',
    heartbeatInterval: 2000,
    abortPollInterval: '500ms',
    sweepInterval: 0,
    staleWorkerTimeout: '45s',
  });
  t.like(options, { shutdownGraceMs: 60_000, heartbeatMs: 2000, abortPollMs: 500, sweepMs: 0, staleWorkerSeconds: 45 });
  t.like(resolveBackendOptions({ postgres: 'postgres://h/db', queues: ['q'], tasks: { t: () => {} } }), {
    shutdownGraceMs: 30_000,
    heartbeatMs: 10_000,
    abortPollMs: 5000,
    sweepMs: 30_000,
    staleWorkerSeconds: 30,
  });
  const error = t.throws(
    () => resolveBackendOptions({ postgres: 'postgres://h/db', queues: ['q'], tasks: { t: () => {} }, staleWorkerTimeout: '10s' }),
    { instanceOf: ConfigError },
  );
  t.is(error.field, 'staleWorkerTimeout');
  t.is(error.code, 'ERR_BAD_DURATION');
});

// Found by test/fuzz/options.test.ts: an unregistered defaultSlotClass crashed load() with a TypeError.
test('a defaultSlotClass that is not registered is a ConfigError naming it, from load() and from keepalive()', async (t) => {
  const scheduler = new Scheduler({ name: 'n', defaultSlotClass: 'Mine', logger: false });
  scheduler.registerBackend('idle', Idle);
  const loaded = await t.throwsAsync(scheduler.load([{ slotId: 1, backends: ['idle'] }]), { instanceOf: ConfigError });
  t.is(loaded.field, 'defaultSlotClass');
  t.is(loaded.code, 'ERR_UNKNOWN_SLOT_CLASS');
  t.regex(loaded.message, /^defaultSlotClass: got "Mine"; unknown slot class; registered: MemorySlot, RedisSlot, PostgresSlot/);
  const renewed = await t.throwsAsync(scheduler.keepalive('t'), { instanceOf: ConfigError });
  t.is(renewed.field, 'defaultSlotClass');
  // A slot that names its class does not need the default.
  await t.notThrowsAsync(scheduler.load([{ slotId: 1, slotCls: 'MemorySlot', backends: ['idle'] }]));
  await scheduler.close();
});

// Found by test/fuzz/options.test.ts: a timeout of 20 ms or less was accepted, and no task could
// ever start in it (each start was refused as lapsed and its id handed back at once, in a loop).
test('a task timeout under 100 ms is refused, in the options and in a slot config', async (t) => {
  rejectsOption(t, { name: 'n', timeout: '20ms' }, 'timeout', '20ms', 'between 100 ms', 'ERR_BAD_DURATION');
  const scheduler = new Scheduler({ name: 'n', timeout: '100ms', logger: false });
  scheduler.registerBackend('idle', Idle);
  const error = await t.throwsAsync(scheduler.load([{ slotId: 1, backends: ['idle'], timeout: 50 }]), { instanceOf: ConfigError });
  t.is(error.field, 'slots[0].timeout');
  await scheduler.close();
});
