/**
 * The Procrastinate schema we ship: applySchema() creates it once and only from nothing, and
 * checkSchemaLevel() names the first missing object with the version that introduced it. Each
 * test works in a fresh schema reached through search_path, as a Python app would.
 */
import test from 'ava';
import pg from 'pg';
import { applySchema, checkSchemaLevel } from '../../backends/procrastinate/schema.js';
import { ProcrastinateSchemaError } from '../../backends/procrastinate/errors.js';
import { isTaskSemaphoreError } from '../../src/core/errors.js';
import { deferOne, procrastinateDb } from '../helpers/procrastinate.js';
import { connectPostgres, uniqueName } from '../helpers/services.js';

test('applySchema creates the schema once; later calls and checks find level 3.4', async (t) => {
  const { pool, schema } = await procrastinateDb(t, { apply: false });
  t.deepEqual(await applySchema(pool), { applied: true, schema, level: '3.4' });
  t.deepEqual(await applySchema(pool), { applied: false, schema, level: '3.4' });
  // A client works as well as a pool, and is left connected and outside a transaction.
  const client = await pool.connect();
  try {
    t.deepEqual(await applySchema(client), { applied: false, schema, level: '3.4' });
    // Outside a transaction, each statement starts its own: now() is its start time.
    t.true((await client.query<{ autocommit: boolean }>('SELECT now() = statement_timestamp() AS autocommit')).rows[0]?.autocommit);
  } finally {
    client.release();
  }
  t.is(await checkSchemaLevel(pool), '3.4');
});

test('concurrent applySchema calls on one schema create it exactly once', async (t) => {
  const { pool } = await procrastinateDb(t, { apply: false });
  const results = await Promise.all([applySchema(pool), applySchema(pool), applySchema(pool)]);
  t.is(results.filter((r) => r.applied).length, 1);
  t.is(await checkSchemaLevel(pool), '3.4');
});

test('applySchema logs once at info when it creates the schema', async (t) => {
  const { pool, schema } = await procrastinateDb(t, { apply: false });
  const lines: Array<[string, Record<string, unknown> | undefined]> = [];
  const logger = { info: (message: string, fields?: Record<string, unknown>) => lines.push([message, fields]) };
  await applySchema(pool, { logger });
  await applySchema(pool, { logger });
  t.deepEqual(lines, [['procrastinate schema applied', { backend: 'procrastinate', schema, level: '3.4' }]]);
});

test('the schema has every index, constraint and trigger under its contract name', async (t) => {
  const { pool, schema } = await procrastinateDb(t);
  const names = async (sql: string) => (await pool.query<{ name: string }>(sql, [schema])).rows.map((r) => r.name).sort();
  t.deepEqual(await names("SELECT indexname AS name FROM pg_indexes WHERE schemaname = $1 AND indexname NOT LIKE '%_pkey'"), [
    'idx_procrastinate_jobs_worker_not_null',
    'idx_procrastinate_workers_last_heartbeat',
    'procrastinate_events_job_id_fkey_v1',
    'procrastinate_jobs_id_lock_idx_v1',
    'procrastinate_jobs_lock_idx_v1',
    'procrastinate_jobs_priority_idx_v1',
    'procrastinate_jobs_queue_name_idx_v1',
    'procrastinate_jobs_queueing_lock_idx_v1',
    'procrastinate_periodic_defers_job_id_fkey_v1',
    'procrastinate_periodic_defers_unique',
  ]);
  t.deepEqual(
    await names(
      `SELECT tgname AS name FROM pg_trigger JOIN pg_class c ON c.oid = tgrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND NOT tgisinternal`,
    ),
    [
      'procrastinate_jobs_notify_queue_job_aborted_v1',
      'procrastinate_jobs_notify_queue_job_inserted_v1',
      'procrastinate_trigger_abort_requested_events_v1',
      'procrastinate_trigger_delete_jobs_v1',
      'procrastinate_trigger_scheduled_events_v1',
      'procrastinate_trigger_status_events_insert_v1',
      'procrastinate_trigger_status_events_update_v1',
    ],
  );
  const enums = await pool.query<{ labels: string[] }>(
    `SELECT array_agg(enumlabel::text ORDER BY enumsortorder) AS labels FROM pg_enum
     WHERE enumtypid IN ('procrastinate_job_status'::regtype, 'procrastinate_job_event_type'::regtype)
     GROUP BY enumtypid ORDER BY enumtypid::regtype::text`,
  );
  t.deepEqual(
    enums.rows.map((r) => r.labels),
    [
      [
        'deferred',
        'started',
        'deferred_for_retry',
        'failed',
        'succeeded',
        'cancelled',
        'abort_requested',
        'aborted',
        'scheduled',
        'retried',
      ],
      ['todo', 'doing', 'succeeded', 'failed', 'cancelled', 'aborting', 'aborted'],
    ],
  );
  // The CHECK and the FK action are observable: no queued job with an abort request.
  const id = await deferOne(pool);
  const error = await t.throwsAsync(pool.query('UPDATE procrastinate_jobs SET abort_requested = true WHERE id = $1', [id]));
  t.like(error, { code: '23514', constraint: 'check_not_todo_abort_requested' });
});

test('the level check names a missing 3.4 function with the exact signature', async (t) => {
  const { pool, schema } = await procrastinateDb(t);
  await pool.query(
    'DROP FUNCTION procrastinate_retry_job_v2(bigint, timestamp with time zone, integer, character varying, character varying) CASCADE',
  );
  const error = await t.throwsAsync(checkSchemaLevel(pool), { instanceOf: ProcrastinateSchemaError });
  t.true(
    error.message.startsWith(
      'procrastinate schema is older than 3.4: function procrastinate_retry_job_v2(bigint, timestamp with time zone, ' +
        'integer, character varying, character varying) is missing; apply procrastinate/sql/migrations up to 03.04.00, ' +
        'or call applySchema()',
    ),
    error.message,
  );
  t.true(error.message.includes(schema));
  t.like(error, { code: 'ERR_PROCRASTINATE_SCHEMA', name: 'ProcrastinateSchemaError', level: '3.4', searchPath: schema });
  t.true(isTaskSemaphoreError(error));
});

test('the level check says 3.1 when procrastinate_workers is missing', async (t) => {
  const { pool } = await procrastinateDb(t);
  await pool.query('DROP TABLE procrastinate_workers CASCADE'); // also drops the jobs.worker_id FK
  const error = await t.throwsAsync(checkSchemaLevel(pool), { instanceOf: ProcrastinateSchemaError });
  t.regex(error.message, /^procrastinate schema is older than 3\.1: table procrastinate_workers is missing; /);
  t.like(error, { level: '3.1', object: 'table procrastinate_workers' });
});

test('the level check says 3.3 when fetch_job_v2 lacks the priority-aware lock rule', async (t) => {
  const { pool } = await procrastinateDb(t);
  // A 3.2-style body: any queued job of the lock with a smaller id blocks, whatever its priority.
  await pool.query(`CREATE OR REPLACE FUNCTION procrastinate_fetch_job_v2(target_queue_names varchar[], p_worker_id bigint)
    RETURNS procrastinate_jobs LANGUAGE sql AS $$
      SELECT * FROM procrastinate_jobs AS j WHERE j.status = 'todo' AND NOT EXISTS (
        SELECT 1 FROM procrastinate_jobs AS other_jobs WHERE other_jobs.lock = j.lock AND other_jobs.id < j.id)
      LIMIT 1 $$`);
  const error = await t.throwsAsync(checkSchemaLevel(pool), { instanceOf: ProcrastinateSchemaError });
  t.regex(
    error.message,
    /^procrastinate schema is older than 3\.3: function procrastinate_fetch_job_v2\(character varying\[\], bigint\) lacks the priority-aware lock rule/,
  );
  t.is(error.level, '3.3');
});

test('without any procrastinate object the check says where it looked and how to fix it', async (t) => {
  const { pool, schema } = await procrastinateDb(t, { apply: false });
  const error = await t.throwsAsync(checkSchemaLevel(pool), { instanceOf: ProcrastinateSchemaError });
  t.is(
    error.message,
    `procrastinate schema not found: table procrastinate_jobs is missing in search_path "${schema}"; ` +
      `connect with the search_path the Python side uses (pg: options: '-c search_path=<schema>'), ` +
      'or call applySchema() to create the schema there',
  );
});

test('applySchema refuses a partial or older schema and changes nothing', async (t) => {
  const { pool, schema } = await procrastinateDb(t);
  await pool.query('DROP FUNCTION procrastinate_retry_job_v2(bigint, timestamptz, integer, varchar, varchar) CASCADE');
  const error = await t.throwsAsync(applySchema(pool), { instanceOf: ProcrastinateSchemaError });
  t.true(
    error.message.startsWith(`cannot apply the procrastinate schema to "${schema}": it already holds 24 of its 25 objects`),
    error.message,
  );
  t.regex(
    error.message,
    /lacks 1 \(function procrastinate_retry_job_v2\(bigint, timestamp with time zone, integer, character varying, character varying\)\)/,
  );
  t.regex(error.message, /older than 3\.4/);
  t.regex(error.message, /procrastinate\/sql\/migrations up to 03\.04\.00/);
  t.like(error, { level: '3.4' });
  t.true(error.cause instanceof ProcrastinateSchemaError);
  const fn = await pool.query<{ f: string | null }>(
    "SELECT to_regprocedure('procrastinate_retry_job_v2(bigint,timestamptz,integer,varchar,varchar)')::text AS f",
  );
  t.is(fn.rows[0]?.f, null);
});

test('applySchema fails clearly when search_path names no existing schema', async (t) => {
  const missing = uniqueName('nope');
  const pool = await connectPostgres({ max: 1, options: `-c search_path=${missing}` });
  t.teardown(() => pool.end());
  const error = await t.throwsAsync(applySchema(pool), { instanceOf: ProcrastinateSchemaError });
  t.is(
    error.message,
    `cannot apply the procrastinate schema: no schema of search_path "${missing}" exists; create the schema first, or connect with an existing one first in search_path`,
  );
});

test('objects are created in the first schema of search_path, unqualified', async (t) => {
  const { schema } = await procrastinateDb(t, { apply: false });
  const pool = await connectPostgres({ max: 2, options: `-c search_path=${schema},public` });
  t.teardown(() => pool.end());
  t.like(await applySchema(pool), { applied: true, schema });
  const where = await pool.query<{ nspname: string }>(
    "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = 'procrastinate_jobs'::regclass",
  );
  t.is(where.rows[0]?.nspname, schema);
  // A schema found later in search_path is used where it is, not shadowed by a new copy.
  const { schema: empty } = await procrastinateDb(t, { apply: false });
  const behind = await connectPostgres({ max: 2, options: `-c search_path=${empty},${schema}` });
  t.teardown(() => behind.end());
  t.deepEqual(await applySchema(behind), { applied: false, schema, level: '3.4' });
  t.is(await checkSchemaLevel(behind), '3.4');
});

test('a queue name over 40 bytes fails the insert with 22023 channel name too long', async (t) => {
  const { pool } = await procrastinateDb(t);
  await t.notThrowsAsync(deferOne(pool, { queue: 'q'.repeat(40) }));
  const error = await t.throwsAsync<pg.DatabaseError>(deferOne(pool, { queue: 'é'.repeat(20) + 'q' })); // 41 bytes
  t.like(error, { code: '22023', message: 'channel name too long' });
});
