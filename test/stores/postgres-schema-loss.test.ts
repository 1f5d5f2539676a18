/**
 * A PostgreSQL whose slot tables vanish under a running fleet: the schema dropped, or a database
 * restored empty. The store recreates what `init()` created (schema, tables, the slots it was
 * given) at the first statement that finds them missing, and the fleet goes on as after a Redis
 * that lost its state: every slot idle, filled at once, each running task told `lost` once.
 */
import test from 'ava';
import { TaskAbortedError } from '../../src/core/errors.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { ScriptedBackend, slots, waitFor } from '../../src/testing/scheduler-kit.js';
import { connectPostgres, databaseUrl, freshSchema, uniqueName } from '../helpers/services.js';

test('a dropped schema is recreated by the next pass: slots filled again, running tasks told lost once', async (t) => {
  const pool = await connectPostgres();
  t.teardown(() => pool.end());
  const schema = await freshSchema(pool);
  const backend = new ScriptedBackend(['a', 'b', 'c', 'd']);
  const scheduler = new Scheduler({ name: uniqueName('loss'), postgres: databaseUrl, postgresSchema: schema, logger: false });
  scheduler.registerBackend('B', backend);
  t.teardown(() => scheduler.close());
  await scheduler.load(slots(2, ['B']));
  await scheduler.schedule();
  t.deepEqual(backend.started.map((s) => s.taskId).sort(), ['a', 'b']);

  await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  // The pass finds the tables gone, recreates them, and fills both slots.
  await scheduler.schedule();
  t.deepEqual(backend.started.map((s) => s.taskId).sort(), ['a', 'b', 'c', 'd']);
  const { rows } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM ${schema}.task_semaphore_slots WHERE task_id IS NOT NULL`,
  );
  t.is(rows[0]!.n, 2);

  // The tasks that ran before learn it: `a` at its keepalive, `b` at the next pass.
  const keepalive = await scheduler.keepalive('a');
  t.like(keepalive, { ok: false, reason: 'unknown' });
  await scheduler.schedule();
  await waitFor(() => backend.stopsOf('b').length === 1, 'b told lost');
  for (const taskId of ['a', 'b']) {
    t.deepEqual(
      backend.stopsOf(taskId).map((outcome) => outcome.reason),
      ['lost'],
    );
    const reason = backend.contexts.get(taskId)!.signal.reason as unknown;
    t.is(reason instanceof TaskAbortedError ? reason.abortCause : String(reason), 'lost');
  }
  // The new tasks hold their slots and stop normally.
  t.true((await scheduler.stop('c')).ok);
  t.deepEqual(
    backend.stopsOf('c').map((outcome) => outcome.reason),
    ['stopped'],
  );
});

test('a table dropped alone, which the recorded migrations say exists, fails the pass with a StoreError naming it', async (t) => {
  const pool = await connectPostgres();
  t.teardown(() => pool.end());
  const schema = await freshSchema(pool);
  const scheduler = new Scheduler({ name: uniqueName('loss'), postgres: databaseUrl, postgresSchema: schema, logger: false });
  scheduler.registerBackend('B', new ScriptedBackend([]));
  t.teardown(() => scheduler.close());
  await scheduler.load(slots(1, ['B']));
  await pool.query(`DROP TABLE ${schema}.task_semaphore_slots CASCADE`);
  const error = await t.throwsAsync(scheduler.schedule());
  t.like(error, { code: 'ERR_STORE', operation: 'beginPass' });
  t.regex(error!.message, /task_semaphore_slots" does not exist/);
});
