/**
 * PostgreSQL slots send their statements as named prepared statements (`postgresPreparedStatements`,
 * on by default), so that each connection parses and plans them once; off, they go unnamed, as a
 * pooler that does not keep prepared statements across transactions needs.
 */
import test from 'ava';
import pg from 'pg';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { ScriptedBackend, slots } from '../../src/testing/scheduler-kit.js';
import { connectPostgres, databaseUrl, freshSchema, uniqueName } from '../helpers/services.js';

/** A pool of one connection, so that what the schedulers prepared is what this session sees. */
async function onePool(t: { teardown(fn: () => Promise<void>): void }): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  t.teardown(() => pool.end());
  return pool;
}

async function preparedNames(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name');
  return rows.map((row) => row.name);
}

async function runTwoTasks(t: { teardown(fn: () => Promise<void>): void }, pool: pg.Pool, schema: string, prepared?: boolean) {
  const backend = new ScriptedBackend(['a', 'b']);
  const scheduler = new Scheduler({
    name: uniqueName('prep'),
    postgres: pool,
    postgresSchema: schema,
    ...(prepared === undefined ? {} : { postgresPreparedStatements: prepared }),
    logger: false,
  });
  scheduler.registerBackend('B', backend);
  t.teardown(() => scheduler.close());
  await scheduler.load(slots(2, ['B']));
  await scheduler.schedule();
  for (const taskId of ['a', 'b']) await scheduler.stop(taskId);
  await scheduler.schedule();
  return backend;
}

test('by default each statement is prepared once on the connection, and runs again from there', async (t) => {
  const admin = await connectPostgres();
  t.teardown(() => admin.end());
  const pool = await onePool(t);
  const backend = await runTwoTasks(t, pool, await freshSchema(admin));
  t.deepEqual(
    backend.started.map((s) => s.taskId),
    ['a', 'b'],
  );
  const names = (await preparedNames(pool)).filter((name) => name.startsWith('task_semaphore_'));
  // begin-pass (twice), start-many and end-many at least, each prepared once.
  t.true(names.length >= 3, names.join(', '));
  t.is(new Set(names).size, names.length);
});

test('two schedulers of different schemas share a connection: their statements never share a name', async (t) => {
  const admin = await connectPostgres();
  t.teardown(() => admin.end());
  const pool = await onePool(t);
  const [first, second] = [await freshSchema(admin), await freshSchema(admin)];
  await runTwoTasks(t, pool, first!);
  // node-postgres refuses a name already prepared on the connection for another text.
  const backend = await runTwoTasks(t, pool, second!);
  t.deepEqual(
    backend.started.map((s) => s.taskId),
    ['a', 'b'],
  );
});

test('postgresPreparedStatements: false sends every statement unnamed', async (t) => {
  const admin = await connectPostgres();
  t.teardown(() => admin.end());
  const pool = await onePool(t);
  const backend = await runTwoTasks(t, pool, await freshSchema(admin), false);
  t.deepEqual(
    backend.started.map((s) => s.taskId),
    ['a', 'b'],
  );
  t.deepEqual(await preparedNames(pool), []);
});

test('postgresPreparedStatements must be a boolean', (t) => {
  const error = t.throws(() => new Scheduler({ name: 'x', postgres: databaseUrl, postgresPreparedStatements: 'no' as never }));
  t.regex(error.message, /postgresPreparedStatements: got "no"; allowed: true or false/);
});
