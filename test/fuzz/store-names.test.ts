/**
 * Fuzzed names where the stores put them into keys and rows: the scheduler name and key prefix of
 * a RedisSlotStore, the scheduler name of a PostgresSlotStore, a scheduler's `owner` and backend names. Each is
 * refused with a ConfigError naming the option, or works: a task starts and is inspected under
 * it, and a sentinel store beside it (same server, same prefix or schema) is left untouched, its
 * keys and rows the only others there.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { PostgresSlotStore } from '../../slots/postgres/index.js';
import { RedisSlotStore } from '../../slots/redis/index.js';
import type { SlotStore } from '../../src/contracts/store.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { ScriptedBackend } from '../../src/testing/scheduler-kit.js';
import { connectPostgres, connectRedis, freshSchema, redisUrl, uniqueName } from '../helpers/services.js';
import { outcomeOf, outcomeOfAsync } from './config-errors.js';
import { fuzzParameters, metaString, oddString } from './fuzz-kit.js';

/** A name: metacharacters, any unicode, raw UTF-16 (NUL, lone surrogates), long ones. */
const odd = fc.oneof(metaString(6), oddString(2000));

/** Runs a task in slot 1 of `store` and checks inspect() shows it; closes the store. */
async function runsATask(store: SlotStore): Promise<void> {
  try {
    await store.init(['1']);
    const { reserved } = await store.beginPass({
      slotIds: ['1'],
      owner: 'fuzz',
      leaseMs: 60_000,
      deliverable: ['b'],
      retentionMs: 60_000,
      limit: 10,
    });
    if (reserved.length !== 1) throw new Error('slot 1 was not reserved');
    const started = await store.start({
      slotId: '1',
      token: reserved[0]!.token,
      taskId: 'task',
      backend: 'b',
      timeoutMs: 60_000,
      maxRuntimeMs: null,
    });
    if (!started.ok) throw new Error(`start: ${JSON.stringify(started)}`);
    const [slot] = await store.inspect();
    if (slot?.occupancy?.taskId !== 'task') throw new Error(`inspect: ${JSON.stringify(slot)}`);
  } finally {
    await store.close();
  }
}

/** A sentinel store with a task running, and a way to tell it is unchanged. */
async function sentinel(store: SlotStore): Promise<() => Promise<void>> {
  await runsATask(Object.assign(Object.create(store) as SlotStore, { close: async () => {} }));
  const before = JSON.stringify(await store.inspect());
  return async () => {
    const after = JSON.stringify(await store.inspect());
    if (after !== before) throw new Error(`the sentinel store changed: ${after}`);
  };
}

/** The Redis keys under the `{<base>` hash tags of this test. */
async function keysUnder(client: Redis, base: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `{${base}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

test('RedisSlotStore: a fuzzed name and key prefix are refused by name, or keep every key under their own hash tag', async (t) => {
  const client = await connectRedis();
  const base = uniqueName('fz');
  t.teardown(async () => {
    const keys = await keysUnder(client, base);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
  });
  const sentinelStore = new RedisSlotStore({ name: 'sentinel', redis: client, keyPrefix: base });
  const unchanged = await sentinel(sentinelStore);
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(odd, odd, async (name, suffix) => {
      const keyPrefix = `${base}${suffix}`;
      const built = outcomeOf(t, () => new RedisSlotStore({ name, redis: redisUrl, keyPrefix }), ['name', 'keyPrefix']);
      if (!built.ok) return;
      accepted++;
      await runsATask(built.value);
      const tag = `{${keyPrefix}:${name}}:`;
      // Keys are bytes: compare them as Redis holds them (UTF-8 of the name and prefix).
      const foreign = (await keysUnder(client, base)).filter((key) => !key.startsWith('{' + base + ':sentinel}:') && !key.startsWith(tag));
      if (foreign.length > 0) throw new Error(`keys outside ${JSON.stringify(tag)}: ${JSON.stringify(foreign.slice(0, 3))}`);
      await unchanged();
      const mine = await keysUnder(client, base);
      await client.del(...mine.filter((key) => key.startsWith(tag)));
    }),
    fuzzParameters(40, {
      examples: [
        ['a\u0000b', ''],
        ['x\ud800', ''],
        ['x', '\udc00'],
        ["'; --", '%*[]'],
      ],
    }),
  );
  t.true(accepted >= 10, `${accepted} name and prefix pairs accepted`);
});

async function pgSchema(t: ExecutionContext): Promise<{ pool: pg.Pool; schema: string }> {
  const pool = await connectPostgres({ max: 4 });
  const schema = await freshSchema(pool);
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await pool.end();
  });
  return { pool, schema };
}

test('PostgresSlotStore: a fuzzed scheduler name is refused by name, or runs a task beside a sentinel name it leaves alone', async (t) => {
  const { pool, schema } = await pgSchema(t);
  const unchanged = await sentinel(new PostgresSlotStore({ name: 'sentinel', postgres: pool, schema }));
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(odd, async (name) => {
      const built = outcomeOf(t, () => new PostgresSlotStore({ name, postgres: pool, schema }), ['PostgresSlotStoreOptions.name']);
      if (!built.ok || name === 'sentinel') return;
      accepted++;
      await runsATask(built.value);
      await unchanged();
      const { rows } = await pool.query<{ names: string[] }>(
        `SELECT array_agg(DISTINCT scheduler) AS names FROM ${schema}.task_semaphore_slots`,
      );
      if (!rows[0]!.names.includes(name)) throw new Error(`the name is not stored as given: ${JSON.stringify(rows[0]!.names)}`);
      // fast-check may draw the same name again: it must find its slot idle.
      await pool.query(`DELETE FROM ${schema}.task_semaphore_slots WHERE scheduler = $1`, [name]);
    }),
    fuzzParameters(40, { examples: [['a\u0000b'], ['x\ud800'], ["'; DROP TABLE task_semaphore_slots; --"]] }),
  );
  t.true(accepted >= 10, `${accepted} names accepted`);
});

test('Scheduler on PostgreSQL: a fuzzed owner or backend name is refused by name, or a task of it runs and stops', async (t) => {
  const { pool, schema } = await pgSchema(t);
  let ran = 0;
  await fc.assert(
    fc.asyncProperty(fc.option(odd), fc.option(odd), async (owner, backendName) => {
      const options = {
        name: uniqueName('fz'),
        postgres: pool,
        postgresSchema: schema,
        logger: false as const,
        ...(owner === null ? {} : { owner }),
      };
      const built = outcomeOf(t, () => new Scheduler(options), ['owner']);
      if (!built.ok) return;
      const scheduler = built.value;
      try {
        const backend = new ScriptedBackend(['task']);
        const name = backendName ?? 'A';
        if (!outcomeOf(t, () => scheduler.registerBackend(name, backend), ['registerBackend(name)']).ok) return;
        await scheduler.load([{ slotId: 1, backends: [name] }]);
        await outcomeOfAsync(t, () => scheduler.schedule(), []);
        if (backend.started.length !== 1) throw new Error('the task did not start');
        await scheduler.stop('task');
        if (backend.stopped[0]?.taskId !== 'task') throw new Error('its stopCallback did not run');
        ran++;
      } finally {
        await scheduler.close();
      }
    }),
    fuzzParameters(30, {
      examples: [
        ['me\u0000', null],
        ['me\ud800', null],
        [null, 'B\u0000'],
        [null, 'B\udfff'],
        [null, "'; --"],
      ],
    }),
  );
  t.true(ran >= 10, `${ran} schedulers ran a task`);
});
