/** A process that loads no config reaches the stores of every slot class it opens (the CLI given a config file). */
import test from 'ava';
import { Backend, Scheduler } from '../../src/index.js';
import { builtinSlotClasses } from '../../src/scheduler/slot-classes.js';
import { connectPostgres, databaseUrl, freshSchema, redisUrl, storeListenersLeft, uniqueName } from '../helpers/services.js';

class Once extends Backend {
  constructor(private readonly ids: string[]) {
    super();
  }
  poll() {
    return this.ids.shift() ?? null;
  }
  startCallback() {}
}

test('openStores: keepalive and inspect reach tasks in Redis and PostgreSQL slots of one name', async (t) => {
  const pool = await connectPostgres({ max: 1 });
  const postgresSchema = await freshSchema(pool);
  await pool.end();
  const options = {
    name: uniqueName('open'),
    redis: redisUrl,
    keyPrefix: uniqueName('open'),
    postgres: databaseUrl,
    postgresSchema,
    logger: false as const,
  };
  const runner = new Scheduler(options);
  t.teardown(() => runner.close());
  runner.registerBackend('jobs', new Once(['in-redis', 'in-postgres']));
  await runner.load([
    { slotId: 'r', slotCls: 'RedisSlot', backends: ['jobs'] },
    { slotId: 'p', slotCls: 'PostgresSlot', backends: ['jobs'] },
  ]);
  t.like(await runner.schedule(), { started: 2 });

  const reporter = new Scheduler(options);
  t.teardown(() => reporter.close());
  t.like(await reporter.keepalive('in-postgres'), { ok: false, reason: 'unknown' }, 'only the default (Redis) store is open');
  await reporter.openStores(['RedisSlot', 'PostgresSlot']);
  t.like(await reporter.keepalive('in-postgres'), { ok: true, slotId: 'p' });
  t.like(await reporter.keepalive('in-redis'), { ok: true, slotId: 'r' });
  const slots = await reporter.inspect();
  t.deepEqual(
    slots.map((slot) => [slot.slotCls, slot.slotId, slot.occupancy?.taskId]),
    [
      ['RedisSlot', 'r', 'in-redis'],
      ['PostgresSlot', 'p', 'in-postgres'],
    ],
  );
  await t.throwsAsync(reporter.openStores(['RedisSlto']), {
    code: 'ERR_UNKNOWN_SLOT_CLASS',
    message: /openStores\(slotClasses\): got "RedisSlto"; unknown slot class/,
  });
});

for (const slotCls of ['RedisSlot', 'PostgresSlot'] as const) {
  test(`${slotCls}: calls that come at once to a process that loads no config share one store, prepared before any is sent`, async (t) => {
    // A schema no process has prepared yet: a call sent before the migrations would find no table.
    const pool = await connectPostgres({ max: 1 });
    const postgresSchema = await freshSchema(pool);
    await pool.end();
    const reporter = new Scheduler({
      name: uniqueName('open'),
      redis: redisUrl,
      keyPrefix: uniqueName('open'),
      postgres: databaseUrl,
      postgresSchema,
      defaultSlotClass: slotCls,
      logger: false,
    });
    let built = 0;
    // The built-in class, counted: each store it builds opens its own client.
    reporter.registerSlotClass(slotCls, (context) => {
      built++;
      return builtinSlotClasses[slotCls]!(context);
    });
    t.teardown(() => reporter.close());
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? reporter.stop(`task-${i}`) : reporter.keepalive(`task-${i}`))),
    );
    t.true(
      answers.every((answer) => !answer.ok && answer.reason === 'unknown'),
      JSON.stringify(answers),
    );
    t.is(built, 1, 'one store, so close() ends every client the calls opened');
  });
}

test('close() while load() prepares a PostgreSQL store: load() rejects, no backend opens, no connection is left', async (t) => {
  const admin = await connectPostgres({ max: 1 });
  t.teardown(() => admin.end());
  // A schema no process has prepared: load() spends a while in the migrations.
  const postgresSchema = await freshSchema(admin);
  const scheduler = new Scheduler({ name: uniqueName('open'), postgres: databaseUrl, postgresSchema, logger: false });
  let opened = 0;
  class Counted extends Once {
    override open() {
      opened++;
    }
  }
  scheduler.registerBackend('jobs', new Counted([]));
  const loading = scheduler.load([{ slotId: 1, slotCls: 'PostgresSlot', backends: ['jobs'] }]);
  await scheduler.close();
  await t.throwsAsync(loading);
  t.is(opened, 0, 'no backend opened after close()');
  t.is(await storeListenersLeft(admin, postgresSchema), 0, 'no LISTEN connection left');
});
