/**
 * Fuzzed notifications on the channels the library listens on: the PostgreSQL slot store's events
 * channel (and, alike, the Redis store's pub/sub channel) and the Procrastinate backend's queue
 * channel. Anyone with access to the database can NOTIFY anything there, so garbage, JSON of the
 * wrong shape, and payloads up to PostgreSQL's 8000-byte limit must be ignored: no crash, and the
 * scheduler goes on working (a real task still starts, hears a real cancel, and stops).
 */
import test from 'ava';
import fc from 'fast-check';
import type pg from 'pg';
import { ProcrastinateBackend } from '../../backends/procrastinate/backend.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { ScriptedBackend, waitFor } from '../../src/testing/scheduler-kit.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { deferOne, jobRow, procrastinateDb } from '../helpers/procrastinate.js';
import { connectPostgres, connectRedis, freshSchema, redisUrl, uniqueName } from '../helpers/services.js';
import { anyValue, fuzzParameters, oddString } from './fuzz-kit.js';

/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. */
const maxPayloadBytes = 7999;

/** JSON text of `value`, or a string standing in for one JSON cannot write (undefined, a symbol, a bigint). */
function jsonOf(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(typeof value);
  } catch {
    return String(typeof value);
  }
}

/**
 * A payload: raw garbage, any JSON value, an object with the keys listeners look at holding odd
 * values, or a large one near the limit. `fields` are the keys a listener reads (type, ids).
 */
function payload(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<string> {
  return (
    fc
      .oneof(
        oddString(3000),
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
        fc.record(fields, { requiredKeys: [] }).map(jsonOf),
        fc.constantFrom('null', '[]', '{}', '""', '0', 'true', '{"type":null}', '{"type":{}}', '{', 'x'.repeat(maxPayloadBytes)),
      )
      // NUL cannot travel in a NOTIFY; a lone surrogate travels as U+FFFD, which is fine.
      .map((text) => text.replaceAll('\u0000', ''))
      .filter((text) => Buffer.byteLength(text, 'utf8') <= maxPayloadBytes)
  );
}

/** A backend whose started tasks wait for their signal, then stop through the scheduler. */
function waitingBackend(scheduler: () => Scheduler): ScriptedBackend {
  const backend = new ScriptedBackend();
  backend.onStart = (taskId, context) => {
    context.signal.addEventListener('abort', () => void scheduler().stop(taskId), { once: true });
  };
  return backend;
}

test('PostgresSlot: fuzzed NOTIFY payloads on the events channel are ignored; a real cancel still arrives and the task stops', async (t) => {
  const pool = await connectPostgres({ max: 4 });
  t.teardown(() => pool.end());
  const schema = await freshSchema(pool);
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  });
  const name = uniqueName('fz');
  const { logger } = capturingLogger();
  const scheduler = new Scheduler({ name, postgres: pool, postgresSchema: schema, logger, pollTimeout: '1s', reservationTimeout: '5s' });
  t.teardown(() => scheduler.close());
  const backend = waitingBackend(() => scheduler);
  scheduler.registerBackend('A', backend);
  await scheduler.load([{ slotId: 1, backends: ['A'] }]);
  const channel = `task_semaphore_events:${schema}`.slice(0, 63);
  const notify = (text: string) => pool.query('SELECT pg_notify($1, $2)', [channel, text]);

  // Payloads of this scheduler's name too, so that the shape checks behind the name check are reached.
  const fields = {
    scheduler: fc.oneof(fc.constant(name), anyValue()),
    type: fc.oneof(fc.constantFrom('freed', 'cancel'), anyValue()),
    slotId: anyValue(),
    taskId: anyValue(),
    token: anyValue(),
  };
  await fc.assert(
    fc.asyncProperty(fc.array(payload(fields), { minLength: 1, maxLength: 5 }), async (payloads) => {
      for (const text of payloads) await notify(text);
    }),
    fuzzParameters(40),
  );

  // A round trip on the listening connection's server makes sure the garbage was delivered first.
  backend.queue.push('after-the-garbage');
  await scheduler.schedule();
  await waitFor(() => backend.started.length === 1, 'the task to start');
  const { token } = backend.started[0]!;
  await notify(JSON.stringify({ scheduler: name, type: 'cancel', taskId: 'after-the-garbage', token }));
  await waitFor(() => backend.stopped.length === 1, 'the cancel to arrive through the listener and the task to stop');
  t.like(backend.stopped[0], { taskId: 'after-the-garbage', outcome: { reason: 'stopped' } });
});

test('RedisSlot: fuzzed messages on the events channel are ignored; a real cancel still arrives and the task stops', async (t) => {
  const client = await connectRedis();
  t.teardown(() => client.quit());
  const keyPrefix = uniqueName('fz');
  t.teardown(async () => {
    const keys = await client.keys(`{${keyPrefix}:*`);
    if (keys.length > 0) await client.del(...keys);
  });
  const name = uniqueName('fz');
  const scheduler = new Scheduler({ name, redis: redisUrl, keyPrefix, logger: false, pollTimeout: '1s', reservationTimeout: '5s' });
  t.teardown(() => scheduler.close());
  const backend = waitingBackend(() => scheduler);
  scheduler.registerBackend('A', backend);
  await scheduler.load([{ slotId: 1, backends: ['A'] }]);
  const channel = `{${keyPrefix}:${name}}:events`;

  const fields = {
    type: fc.oneof(fc.constantFrom('freed', 'cancel'), anyValue()),
    slotId: anyValue(),
    taskId: anyValue(),
    token: anyValue(),
  };
  await fc.assert(
    fc.asyncProperty(fc.array(payload(fields), { minLength: 1, maxLength: 5 }), async (payloads) => {
      for (const text of payloads) await client.publish(channel, text);
    }),
    fuzzParameters(40),
  );

  backend.queue.push('after-the-garbage');
  await scheduler.schedule();
  await waitFor(() => backend.started.length === 1, 'the task to start');
  t.is(
    await client.publish(channel, JSON.stringify({ type: 'cancel', taskId: 'after-the-garbage', token: backend.started[0]!.token })),
    1,
    'one subscriber',
  );
  await waitFor(() => backend.stopped.length === 1, 'the cancel to arrive through the subscriber and the task to stop');
});

test('ProcrastinateBackend: fuzzed NOTIFY payloads on its queue channel are ignored; a job deferred after them runs and succeeds', async (t) => {
  const { pool } = await procrastinateDb(t);
  // A queue of its own: channels are database-wide, and other tests listen on `default`.
  const queue = uniqueName('fzq');
  const { logger, entries } = capturingLogger();
  const ran: unknown[] = [];
  const backend = new ProcrastinateBackend({
    postgres: pool,
    queues: [queue],
    logger,
    tasks: { 'fuzz.task': (args) => void ran.push(args) },
  });
  const scheduler = new Scheduler({ name: uniqueName('fz'), logger, pollTimeout: '3s', reservationTimeout: '10s' });
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('P', backend);
  await scheduler.load([{ slotId: 1, backends: ['P'] }]);
  const channel = `procrastinate_queue_v1#${queue}`;
  const notify = (text: string) => pool.query('SELECT pg_notify($1, $2)', [channel, text]);

  const fields = {
    type: fc.oneof(fc.constantFrom('job_inserted', 'abort_job_requested'), anyValue()),
    job_id: fc.oneof(anyValue(), fc.bigInt().map(String)),
  };
  await fc.assert(
    fc.asyncProperty(fc.array(payload(fields), { minLength: 1, maxLength: 5 }), async (payloads) => {
      for (const text of payloads) await notify(text);
    }),
    // JSON that is no object: `null` used to crash the process from inside pg's socket handler.
    fuzzParameters(40, { examples: [[['null', '5', '"job_inserted"', '[{"type":"job_inserted"}]', '{"type":["abort_job_requested"]}']]] }),
  );

  const id = await deferJob(pool, queue, { after: 'the garbage' });
  await waitFor(async () => (await jobRow(pool, id))?.status === 'succeeded', `job ${id} to succeed`, 8000);
  t.deepEqual(ran, [{ after: 'the garbage' }]);
  t.true(
    entries.some((e) => e.level === 'debug' && e.message.includes('ignored a notification') && e.payload === 'null'),
    "a payload that is not Procrastinate's is logged at debug level, shown in the line",
  );
  t.deepEqual(
    entries.filter((e) => e.level === 'error'),
    [],
    'nothing logged as an error',
  );
});

function deferJob(pool: pg.Pool, queue: string, args: Record<string, unknown>): Promise<string> {
  return deferOne(pool, { queue, task: 'fuzz.task', args });
}
