/**
 * The PostgreSQL store's `unlogged` option (the scheduler's `postgresUnlogged`): what `init()`
 * makes of the tables' persistence, and the token floor that keeps tokens growing once a crash has
 * emptied unlogged tables. The crash itself, under a fleet of processes: state-loss.test.ts.
 */
import test, { type ExecutionContext } from 'ava';
import type pg from 'pg';
import { PostgresSlotStore } from '../../slots/postgres/postgres-store.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { ScriptedBackend, slots } from '../../src/testing/scheduler-kit.js';
import { connectPostgres, databaseUrl, freshSchema, uniqueName } from '../helpers/services.js';

/** The persistence of each table and sequence of the schema, by name: 'u' unlogged, 'p' logged. */
async function persistence(pool: pg.Pool, schema: string): Promise<Record<string, string>> {
  const { rows } = await pool.query<{ relname: string; relpersistence: string }>(
    `SELECT c.relname, c.relpersistence FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'S') ORDER BY c.relname`,
    [schema],
  );
  return Object.fromEntries(rows.map((r) => [r.relname, r.relpersistence]));
}

/** Inits a store of `schema` with these options and closes it. */
async function initWith(schema: string, options: { unlogged?: boolean }): Promise<void> {
  const store = new PostgresSlotStore({ name: uniqueName('p'), postgres: databaseUrl, schema, ...options });
  try {
    await store.init(['1']);
  } finally {
    await store.close();
  }
}

/**
 * What a crash leaves of unlogged tables: no slot rows (as after recovery), and the logged token
 * sequence back where its last flushed WAL record put it, here below every token handed out.
 */
async function loseSlots(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`TRUNCATE ${schema}.task_semaphore_slots`);
  await pool.query(`SELECT setval('${schema}.task_semaphore_token', 1)`);
}

/** A pass of `store` over `slotIds` that reserves what is idle (and creates what is missing). */
function passOver(store: PostgresSlotStore, slotIds: string[]) {
  return store.beginPass({ slotIds, owner: 'o', leaseMs: 5000, deliverable: [], retentionMs: 1000, limit: 10 });
}

const storeTables = [
  'task_semaphore_deliveries',
  'task_semaphore_ended',
  'task_semaphore_history',
  'task_semaphore_occupancy_ends',
  'task_semaphore_outbox',
  'task_semaphore_slots',
  'task_semaphore_waiters',
];

test('unlogged: true makes the tables unlogged, false logged again, and left out keeps them as they are', async (t) => {
  const pool = await connectPostgres();
  t.teardown(() => pool.end());
  const schema = await freshSchema(pool);
  t.teardown(() => pool.query(`DROP SCHEMA ${schema} CASCADE`));
  const of = async () => {
    const all = await persistence(pool, schema);
    return storeTables.map((table) => all[table]).join('');
  };

  await initWith(schema, {});
  t.is(await of(), 'ppppppp', 'created logged');
  await initWith(schema, { unlogged: true });
  t.is(await of(), 'uuuuuuu');
  await initWith(schema, {});
  t.is(await of(), 'uuuuuuu', 'a store without the option leaves them unlogged');
  // What a crash must not take: which migrations the schema has, and how far the tokens went.
  const all = await persistence(pool, schema);
  t.is(all.task_semaphore_migrations, 'p');
  t.is(all.task_semaphore_token, 'p');
  await initWith(schema, { unlogged: false });
  t.is(await of(), 'ppppppp');
});

test('unlogged is a boolean: any other value is refused, naming the option', (t) => {
  const error = t.throws(() => new PostgresSlotStore({ name: 'n', postgres: databaseUrl, unlogged: 'yes' as unknown as boolean }));
  t.is(error!.message, 'PostgresSlotStoreOptions.unlogged: got "yes"; allowed: true or false');
  const fromScheduler = t.throws(
    () => new Scheduler({ name: 'n', postgres: databaseUrl, postgresUnlogged: 1 as unknown as boolean, logger: false }),
  );
  t.is(fromScheduler!.message, 'postgresUnlogged: got 1; allowed: true or false');
});

test('slots created again after their rows were lost take tokens above every token handed out before, though the sequence went back', async (t) => {
  const pool = await connectPostgres();
  t.teardown(() => pool.end());
  const schema = await freshSchema(pool);
  t.teardown(() => pool.query(`DROP SCHEMA ${schema} CASCADE`));
  const name = uniqueName('floor');
  const backend = new ScriptedBackend(['a', 'b', 'c', 'd', 'e', 'f']);
  const scheduler = new Scheduler({ name, postgres: databaseUrl, postgresSchema: schema, postgresUnlogged: true, logger: false });
  scheduler.registerBackend('B', backend);
  t.teardown(() => scheduler.close());
  await scheduler.load(slots(2, ['B']));
  await scheduler.schedule();
  const before = Math.max(...backend.started.map((s) => s.token));

  await loseSlots(pool, schema);
  // The next pass recreates the slots (begin-pass), from a sequence raised to the clock first,
  // and finds that a and b lost theirs; the pass after it fills them.
  await scheduler.schedule();
  await scheduler.schedule();
  const afterPass = backend.started.slice(2).map((s) => s.token);
  t.is(afterPass.length, 2);
  t.true(
    afterPass.every((token) => token > before),
    `tokens ${afterPass.join(', ')} after the loss exceed ${before}`,
  );

  // The same through init(), which creates the slots idle (ensure-slots), for a pass to reserve.
  const highest = Math.max(...afterPass);
  await loseSlots(pool, schema);
  const store = new PostgresSlotStore({ name, postgres: databaseUrl, schema });
  t.teardown(() => store.close());
  await store.init(['1', '2']);
  const pass = await passOver(store, ['1', '2']);
  t.is(pass.reserved.length, 2);
  t.true(
    pass.reserved.every((r) => r.token > highest),
    `tokens ${pass.reserved.map((r) => r.token).join(', ')} exceed ${highest}`,
  );
});

/**
 * A migrated schema of its own and a role that does not own it, granted `grants` (statements with
 * `{schema}` and `{role}` in them); returns a URL that logs in as that role.
 */
async function asOtherRole(t: ExecutionContext, grants: string[]): Promise<{ pool: pg.Pool; schema: string; url: string }> {
  const pool = await connectPostgres();
  t.teardown(() => pool.end());
  const schema = await freshSchema(pool);
  const role = uniqueName('role');
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await pool.query(`DROP ROLE ${role}`);
  });
  await initWith(schema, {});
  await pool.query(`CREATE ROLE ${role} LOGIN`);
  await pool.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
  for (const grant of grants) await pool.query(grant.replaceAll('{schema}', schema).replaceAll('{role}', role));
  const url = new URL(databaseUrl);
  url.username = role;
  return { pool, schema, url: url.toString() };
}

test('a role that may use the tables but does not own them is told what the option asked, and why it could not', async (t) => {
  const all = ['TABLES', 'SEQUENCES', 'FUNCTIONS'].map((kind) => `GRANT ALL ON ALL ${kind} IN SCHEMA {schema} TO {role}`);
  const { pool, schema, url } = await asOtherRole(t, all);
  const store = new PostgresSlotStore({ name: uniqueName('p'), postgres: url, schema, unlogged: true });
  t.teardown(() => store.close());
  const error = await t.throwsAsync(store.init(['1']));
  t.is(error!.name, 'StoreError');
  t.regex(
    error!.message,
    /failed in init, making the store's tables unlogged \(option unlogged: true\): must be owner of table task_semaphore_\w+$/,
  );
  // Without the option, the same role loads the schema as it is.
  const plain = new PostgresSlotStore({ name: uniqueName('p'), postgres: url, schema });
  t.teardown(() => plain.close());
  await plain.init(['1']);
  t.is((await persistence(pool, schema)).task_semaphore_slots, 'p');
});

test('a role with only USAGE on the token sequence still creates slots: the raise runs with the owner’s rights', async (t) => {
  const { pool, schema, url } = await asOtherRole(t, [
    'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}',
    'GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}',
  ]);
  await pool.query(`SELECT setval('${schema}.task_semaphore_token', 1)`);
  const store = new PostgresSlotStore({ name: uniqueName('p'), postgres: url, schema });
  t.teardown(() => store.close());
  await store.init(['1', '2']);
  const pass = await passOver(store, ['1', '2', '3']);
  t.is(pass.reserved.length, 3);
  const clock = Date.now() * 10;
  t.true(
    pass.reserved.every((r) => r.token > clock - 600_000),
    `tokens ${pass.reserved.map((r) => r.token).join(', ')} raised to the clock`,
  );
});

test('processes that recreate their slots at once after a loss never share a token, and none goes back', async (t) => {
  const pool = await connectPostgres();
  t.teardown(() => pool.end());
  const schema = await freshSchema(pool);
  t.teardown(() => pool.query(`DROP SCHEMA ${schema} CASCADE`));
  const stores = Array.from({ length: 6 }, () => new PostgresSlotStore({ name: uniqueName('race'), postgres: databaseUrl, schema }));
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  await stores[0]!.init([]);
  const slotIds = Array.from({ length: 5 }, (_, i) => String(i + 1));
  const pass = (store: PostgresSlotStore) => passOver(store, slotIds);
  const before = (await Promise.all(stores.map(pass))).flatMap((p) => p.reserved.map((r) => r.token));
  for (let round = 0; round < 5; round++) {
    await loseSlots(pool, schema);
    const after = (await Promise.all(stores.map(pass))).flatMap((p) => p.reserved.map((r) => r.token));
    t.is(new Set(after).size, after.length, `round ${round}: no token twice`);
    t.true(Math.min(...after) > Math.max(...before), `round ${round}: every token above those handed out before`);
    before.push(...after);
  }
});
