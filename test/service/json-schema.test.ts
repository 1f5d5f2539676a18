/**
 * The published JSON Schema (`task-semaphore/config.schema.json`) and the loader agree: the
 * schema the build wrote is the one the loader's schemas give; a standard validator (ajv) accepts
 * the example and the README's config, and rejects what the loader rejects for its shape, at the
 * same path.
 */
import test from 'ava';
import { Ajv } from 'ajv';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configJsonSchema, ConfigFileError, parseServiceConfig } from '../../src/service/index.js';
import { example, fixtures, root } from './service-kit.js';

const published = JSON.parse(readFileSync(join(root, 'config.schema.json'), 'utf8')) as Record<string, unknown>;
// strict: every keyword the schema uses is one ajv knows, in a place it belongs.
const validate = new Ajv({ strict: true, allErrors: true }).compile(published);

/** The paths ajv finds fault with, as `/scheduler/reddis` (an unknown key is named by its own path). */
function schemaErrors(config: unknown): string[] {
  if (validate(config)) return [];
  return (validate.errors ?? []).map((error) =>
    error.keyword === 'additionalProperties'
      ? `${error.instancePath}/${(error.params as { additionalProperty: string }).additionalProperty}`
      : error.instancePath,
  );
}

/** `scheduler.reddis` or `slots[0].backends[1]` as a JSON pointer. */
const pointer = (path: string) =>
  `/${path
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .join('/')}`;

const valid = () => ({
  $schema: './node_modules/task-semaphore/config.schema.json',
  scheduler: { name: 'cfg', redis: '${REDIS_URL}', timeout: '5m', maxLocalTasks: 4, owner: 'web-1' },
  slots: [
    { slotIds: '1-8', backends: ['recording'], timeout: '2m' },
    { slot_id: 'vip', slot_cls: 'RedisSlot', backends: ['recording'], slot_kwargs: { timeout_after: 60 } },
  ],
  backends: {
    recording: { module: join(fixtures, 'recording-backend.js'), export: 'RecordingBackend', options: { label: 'x' } },
    jobs: {
      type: 'procrastinate',
      options: { postgres: '${DATABASE_URL}', queues: ['jobs'], handlers: './handlers.js', sweepInterval: 0 },
    },
  },
  cron: '*/10 * * * * *',
  log: { level: '${LOG_LEVEL:-info}', format: 'json' },
  shutdown: { graceful: '30s', final: 10_000 },
});

test('the schema the build wrote is the one the loader gives', (t) => {
  t.deepEqual(published, configJsonSchema() as Record<string, unknown>);
  t.is(published.$schema, 'http://json-schema.org/draft-07/schema#');
});

test('the example config, and a config with placeholders in every kind of field, satisfy the schema and the loader', async (t) => {
  const exampleConfig = JSON.parse(readFileSync(example, 'utf8')) as unknown;
  t.deepEqual(schemaErrors(exampleConfig), []);
  t.deepEqual(schemaErrors(valid()), []);
  await t.notThrowsAsync(
    parseServiceConfig(valid(), { baseDir: fixtures, env: { REDIS_URL: 'redis://h:6379', DATABASE_URL: 'postgres://h/db' } }),
  );
});

test("README's config file is the example, verbatim", (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /## Config file\n[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1];
  t.is(block, readFileSync(example, 'utf8'));
});

/** Mistakes of shape: the schema must see each where the loader does. */
const shapeMistakes: { what: string; change: (config: ReturnType<typeof valid>) => unknown; path: string }[] = [
  { what: 'a top-level typo', change: (c) => ({ ...c, slot: [] }), path: 'slot' },
  { what: 'no scheduler name', change: (c) => ({ ...c, scheduler: { redis: 'redis://h' } }), path: 'scheduler' },
  { what: 'a scheduler typo', change: (c) => ({ ...c, scheduler: { name: 'cfg', reddis: 'redis://h' } }), path: 'scheduler.reddis' },
  { what: 'a logger', change: (c) => ({ ...c, scheduler: { name: 'cfg', logger: false } }), path: 'scheduler.logger' },
  { what: 'a bad name', change: (c) => ({ ...c, scheduler: { name: 'two words' } }), path: 'scheduler.name' },
  { what: 'a bad duration', change: (c) => ({ ...c, scheduler: { name: 'cfg', timeout: '5 minutes' } }), path: 'scheduler.timeout' },
  { what: 'a short duration', change: (c) => ({ ...c, scheduler: { name: 'cfg', timeout: 50 } }), path: 'scheduler.timeout' },
  {
    what: 'a redis that is no URL',
    change: (c) => ({ ...c, scheduler: { name: 'cfg', redis: 'localhost:6379' } }),
    path: 'scheduler.redis',
  },
  { what: 'a fractional reapLimit', change: (c) => ({ ...c, scheduler: { name: 'cfg', reapLimit: 1.5 } }), path: 'scheduler.reapLimit' },
  { what: 'a slot typo', change: (c) => ({ ...c, slots: [{ slotId: 1, backend: ['recording'] }] }), path: 'slots[0]' },
  { what: 'backends of a slot not an array', change: (c) => ({ ...c, slots: [{ slotId: 1, backends: 'recording' }] }), path: 'slots[0]' },
  { what: 'no slots', change: (c) => ({ ...c, slots: [] }), path: 'slots' },
  { what: 'a backend of neither form', change: (c) => ({ ...c, backends: { recording: { modul: 'x.js' } } }), path: 'backends.recording' },
  {
    what: 'a Procrastinate option typo',
    change: (c) => ({
      ...c,
      backends: { ...c.backends, jobs: { type: 'procrastinate', options: { ...c.backends.jobs.options, queue: ['x'] } } },
    }),
    path: 'backends.jobs',
  },
  {
    what: 'Procrastinate without queues',
    change: (c) => ({
      ...c,
      backends: { ...c.backends, jobs: { type: 'procrastinate', options: { postgres: 'postgres://h/db', handlers: './h.js' } } },
    }),
    path: 'backends.jobs',
  },
  { what: 'a cron of three fields', change: (c) => ({ ...c, cron: '* * *' }), path: 'cron' },
  { what: 'a bad log level', change: (c) => ({ ...c, log: { level: 'loud' } }), path: 'log.level' },
  { what: 'a shutdown typo', change: (c) => ({ ...c, shutdown: { gracefull: '1m' } }), path: 'shutdown.gracefull' },
  { what: 'a negative shutdown', change: (c) => ({ ...c, shutdown: { final: -1 } }), path: 'shutdown.final' },
];

for (const mistake of shapeMistakes) {
  test(`${mistake.what}: the schema and the loader both reject it, at ${mistake.path}`, async (t) => {
    const config = mistake.change(valid());
    const found = schemaErrors(config);
    t.true(
      found.some((path) => path === pointer(mistake.path) || path.startsWith(`${pointer(mistake.path)}/`)),
      `the schema found ${JSON.stringify(found)}`,
    );
    const error = await t.throwsAsync(
      parseServiceConfig(config, { baseDir: fixtures, env: { REDIS_URL: 'redis://h:6379', DATABASE_URL: 'postgres://h/db' } }),
      { instanceOf: ConfigFileError },
    );
    t.true(
      error.issues.some(
        (issue) => issue.path === mistake.path || issue.path.startsWith(`${mistake.path}.`) || issue.path.startsWith(`${mistake.path}[`),
      ),
      error.message,
    );
  });
}
