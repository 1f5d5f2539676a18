/**
 * `createScheduler(config)`: the Scheduler of a config file loads its slots and runs tasks on
 * memory, Redis and PostgreSQL slots, against the real servers; the Procrastinate backend built
 * from JSON runs a job deferred with SQL; each scheduler builds backends of its own.
 */
import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { waitFor } from '../../src/testing/scheduler-kit.js';
import { ConfigFileError, createScheduler, parseServiceConfig } from '../../src/service/index.js';
import { deferOne, procrastinateDb } from '../helpers/procrastinate.js';
import { connectPostgres, connectRedis, databaseUrl, redisUrl, uniqueName } from '../helpers/services.js';
import { waitStatus } from '../procrastinate/backend-kit.js';
import { fixtures, recordingModule } from './service-kit.js';

const { RecordingBackend } = recordingModule;

/**
 * Makes the scheduler of a config whose slots (two, a range) list one recording backend with one
 * task; loads it, runs a pass, and waits for the task to start. Returns the scheduler.
 */
async function runsATask(t: ExecutionContext, scheduler: Record<string, unknown>, env: NodeJS.ProcessEnv) {
  const label = uniqueName('run');
  const config = await parseServiceConfig(
    {
      scheduler: { name: '${NAME}', ...scheduler },
      slots: [{ slotIds: '1-2', backends: ['recording'], timeout: '30s' }],
      backends: { recording: { module: './recording-backend.js', options: { label, tasks: ['task-1'] } } },
    },
    { baseDir: fixtures, env: { NAME: uniqueName('svc'), ...env } },
  );
  const made = createScheduler(config, { logger: false });
  t.teardown(() => made.close());
  await made.load(config.slots);
  await made.schedule();
  await waitFor(() => RecordingBackend.started.includes(`${label}:task-1`), 'the task to start');
  t.deepEqual(
    (await made.inspect()).map((slot) => slot.slotId),
    ['1', '2'],
  );
  return made;
}

test('a config on memory slots loads and runs a task', async (t) => {
  const scheduler = await runsATask(t, {}, {});
  t.true((await scheduler.inspect()).every((slot) => slot.slotCls === 'MemorySlot'));
});

test('a config on Redis slots, its URL from the environment, loads and runs a task', async (t) => {
  (await connectRedis()).disconnect();
  const scheduler = await runsATask(t, { redis: '${REDIS_URL}', keyPrefix: uniqueName('cfg') }, { REDIS_URL: redisUrl });
  t.true((await scheduler.inspect()).every((slot) => slot.slotCls === 'RedisSlot'));
});

test('a config on PostgreSQL slots, in a schema of its own, loads and runs a task', async (t) => {
  await (await connectPostgres({ max: 1 })).end();
  const scheduler = await runsATask(t, { postgres: '${DATABASE_URL}', postgresSchema: uniqueName('cfg') }, { DATABASE_URL: databaseUrl });
  t.true((await scheduler.inspect()).every((slot) => slot.slotCls === 'PostgresSlot'));
});

test('the Procrastinate backend built from JSON runs a job deferred with SQL, with its args', async (t) => {
  const { pool, schema } = await procrastinateDb(t);
  // The Python side's search_path, given in the URL as a JSON file can.
  const url = `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const config = await parseServiceConfig(
    {
      scheduler: { name: uniqueName('pcfg') },
      slots: [{ slotIds: '1-2', backends: ['jobs'], timeout: '10s' }],
      backends: {
        jobs: {
          type: 'procrastinate',
          options: { postgres: '${PROCRASTINATE_URL}', queues: ['cfg'], handlers: './handlers.js', shutdownGrace: '2s' },
        },
      },
    },
    { baseDir: fixtures, env: { PROCRASTINATE_URL: url } },
  );
  const scheduler = createScheduler(config, { logger: false });
  t.teardown(() => scheduler.close());
  await scheduler.load(config.slots);
  const id = await deferOne(pool, { queue: 'cfg', task: 'tests.config.add', args: { a: 1, b: 2 } });
  await scheduler.schedule();
  await waitStatus(pool, id, 'succeeded');
  t.pass();
});

test('each scheduler made from one config builds backends of its own', async (t) => {
  const config = await parseServiceConfig(
    {
      scheduler: { name: uniqueName('twice') },
      slots: [{ slotId: 1, backends: ['recording'] }],
      backends: { recording: { module: './recording-backend.js', options: { label: 'twice' } } },
    },
    { baseDir: fixtures },
  );
  const before = RecordingBackend.built;
  createScheduler(config, { logger: false });
  createScheduler(config, { logger: false });
  t.is(RecordingBackend.built - before, 2);
});

test('a backend whose constructor refuses its options is named by createScheduler', (t) => {
  return parseServiceConfig(
    {
      scheduler: { name: uniqueName('refused') },
      slots: [{ slotId: 1, backends: ['recording'] }],
      backends: { recording: { module: join(fixtures, 'recording-backend.js'), options: { tasks: 'task-1' } } },
    },
    { baseDir: fixtures },
  ).then((config) => {
    const error = t.throws(() => createScheduler(config, { logger: false }), { instanceOf: ConfigFileError });
    t.is(error.issues[0]?.path, 'backends.recording');
    t.regex(
      error.message,
      /^backends\.recording: got "recording"; building the backend failed: TypeError: RecordingBackend: tasks must be an array$/,
    );
  });
});
