/**
 * Config files (`task-semaphore/service`): the example loads; `${NAME}` placeholders come from the
 * environment; slot ranges expand and their duplicates name both places; every section's typos
 * and bad values are named by path, value and what is allowed, all at once; JSON syntax errors
 * give line and column; JS, CommonJS and TypeScript configs load, with their modules.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/core/errors.js';
import { ConfigFileError, loadConfigFile, parseServiceConfig, type ConfigIssue } from '../../src/service/index.js';
import { example, fixtures, recordingModule } from './service-kit.js';

const { RecordingBackend } = recordingModule;

/** A minimal valid config, to which a test adds its mistake. */
const base = () => ({
  scheduler: { name: 'cfg' },
  slots: [{ slotId: 1, backends: ['recording'] }],
  backends: { recording: { module: join(fixtures, 'recording-backend.js') } },
});

/** Writes `content` (JSON unless a string) to a file of a temporary folder, removed at teardown. */
function writeConfig(t: ExecutionContext, content: unknown, name = 'config.json'): string {
  const dir = mkdtempSync(join(tmpdir(), 'ts-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

/** Loads a config that must fail; returns its issues, after checking the error's shape and message. */
async function issuesOf(t: ExecutionContext, load: Promise<unknown>, source?: string): Promise<ConfigIssue[]> {
  const error = await t.throwsAsync(load, { instanceOf: ConfigFileError });
  t.true(error instanceof ConfigError, 'a ConfigFileError is a ConfigError');
  t.is(error.code, 'ERR_CONFIG_FILE');
  t.is(error.name, 'ConfigFileError');
  t.is(error.issues.length, error.message.split('\n').length, error.message);
  for (const [i, line] of error.message.split('\n').entries()) {
    if (source !== undefined) t.true(line.startsWith(`${source}`), line);
    t.true(line.endsWith(error.issues[i]!.message), line);
  }
  return [...error.issues];
}

/** The issue at `path`, which must exist once. */
function at(t: ExecutionContext, issues: readonly ConfigIssue[], path: string): ConfigIssue {
  const found = issues.filter((issue) => issue.path === path);
  t.is(found.length, 1, `one issue at ${path}; got: ${issues.map((i) => i.message).join(' | ')}`);
  return found[0] ?? ({ path, value: undefined, allowed: '', code: '', message: '' } as ConfigIssue);
}

const paths = (issues: readonly ConfigIssue[]) => issues.map((issue) => issue.path);

// --- files that load ---------------------------------------------------------------------------

test('the example config loads: ranges expanded, backends built, defaults and sections read', async (t) => {
  const config = await loadConfigFile(example, {});
  t.is(config.source, example);
  t.like(config.scheduler, { name: 'reports', redis: 'redis://127.0.0.1:6379', timeout: '5m', maxLocalTasks: 4 });
  t.deepEqual(
    config.slots.map((slot) => slot.slotId),
    ['1', '2', '3', '4', '5', '6', '7', '8', 'vip'],
  );
  t.deepEqual(config.slots[0], { slotId: '1', backends: ['reports'], timeout: '2m' });
  t.deepEqual(config.slots[8], { slotId: 'vip', slotCls: 'PostgresSlot', backends: ['reports', 'exports'] });
  t.deepEqual([...config.backends.keys()], ['reports', 'exports']);
  t.is(config.cron, '*/10 * * * * *');
  t.deepEqual(config.log, { level: 'info', format: 'json' });
  t.deepEqual(config.shutdown, { gracefulMs: 30_000, finalMs: 10_000 });
  t.is(config.slotClasses.size, 0);
});

test('absent sections take their defaults, and an unset log format stays unset for the CLI to choose', async (t) => {
  const config = await loadConfigFile(writeConfig(t, base()), {});
  t.is(config.cron, '* * * * *');
  t.deepEqual(config.log, { level: 'info', format: undefined });
  t.deepEqual(config.shutdown, { gracefulMs: 20_000, finalMs: 5_000 });
});

test('${NAME} comes from the environment given, ${NAME:-default} falls back when unset or empty, $${ stays literal', async (t) => {
  const path = writeConfig(t, {
    ...base(),
    scheduler: {
      name: '${NAME}',
      redis: 'redis://${REDIS_HOST:-127.0.0.1}:${REDIS_PORT:-6379}/0',
      keyPrefix: '${PREFIX:-fallback}',
      owner: 'literal-$${NAME}',
    },
  });
  const config = await loadConfigFile(path, { NAME: 'from-env', REDIS_HOST: 'redis.internal', PREFIX: '' });
  t.deepEqual(config.scheduler, {
    name: 'from-env',
    redis: 'redis://redis.internal:6379/0',
    keyPrefix: 'fallback',
    owner: 'literal-${NAME}',
  });
});

test('an unset variable without default names the path and the variable, and is the only issue of that value', async (t) => {
  const path = writeConfig(t, { ...base(), scheduler: { name: 'cfg', redis: '${REDIS_URL}' }, cron: '${CRON}' });
  const issues = await issuesOf(t, loadConfigFile(path, {}), path);
  t.deepEqual(paths(issues), ['scheduler.redis', 'cron']);
  t.regex(
    at(t, issues, 'scheduler.redis').message,
    /^scheduler\.redis: got "\$\{REDIS_URL\}"; the environment variable REDIS_URL is not set/,
  );
  t.regex(at(t, issues, 'cron').allowed, /CRON is not set; set it, or give a default: \$\{CRON:-value\}/);
});

test('a malformed placeholder is an error saying what is allowed', async (t) => {
  const issues = await issuesOf(t, parseServiceConfig({ ...base(), scheduler: { name: '${1NAME}' } }, { baseDir: fixtures, env: {} }));
  t.regex(at(t, issues, 'scheduler.name').allowed, /\$\{NAME\} or \$\{NAME:-default\}/);
});

test('a bad value read from the environment shows where it came from, with a URL password hidden', async (t) => {
  const path = writeConfig(t, { ...base(), scheduler: { name: 'cfg', redis: '${REDIS_URL}' } });
  const error = await t.throwsAsync(loadConfigFile(path, { REDIS_URL: 'http://admin:hunter2@cache:6379' }), {
    instanceOf: ConfigFileError,
  });
  t.false(error.message.includes('hunter2'), error.message);
  t.regex(
    error.message,
    /scheduler\.redis: got "http:\/\/\*\*\*@cache:6379" \(from "\$\{REDIS_URL\}"\); allowed: a redis:\/\/ or rediss:\/\/ URL/,
  );
});

test('a slot range: "1-4,7", a list of ids, and the shared fields copied to each slot', async (t) => {
  const config = await parseServiceConfig(
    {
      ...base(),
      slots: [
        { slotIds: '1-4, 7', backends: ['recording'], timeout: '2m', slotKwargs: { maxRuntime: '1h' } },
        { slotIds: ['vip', 'gold', 99], backends: ['recording'] },
      ],
    },
    { baseDir: fixtures, env: {} },
  );
  t.deepEqual(
    config.slots.map((slot) => slot.slotId),
    ['1', '2', '3', '4', '7', 'vip', 'gold', '99'],
  );
  t.deepEqual(config.slots[4], { slotId: '7', backends: ['recording'], timeout: '2m', slotKwargs: { maxRuntime: '1h' } });
});

test('overlapping ranges and a duplicate id name both places', async (t) => {
  const issues = await issuesOf(
    t,
    parseServiceConfig(
      {
        ...base(),
        slots: [
          { slotIds: '1-8', backends: ['recording'] },
          { slotIds: '8-10', backends: ['recording'] },
          { slotId: 3, backends: ['recording'] },
          { slotIds: '20,21,20', backends: ['recording'] },
        ],
      },
      { baseDir: fixtures, env: {} },
    ),
  );
  t.is(
    at(t, issues, 'slots[1].slotIds').message,
    'slots[1].slotIds: got "8"; slot ids must be unique; slots[0].slotIds ("1-8") has the same id',
  );
  t.is(at(t, issues, 'slots[1].slotIds').code, 'ERR_DUPLICATE_SLOT_ID');
  t.is(
    at(t, issues, 'slots[2].slotId').message,
    'slots[2].slotId: got 3; slot ids must be unique; slots[0].slotIds ("1-8") has the same id',
  );
  t.regex(at(t, issues, 'slots[3].slotIds').allowed, /the id "20" appears twice/);
});

test('bad ranges say what a range is', async (t) => {
  for (const [slotIds, problem] of [
    ['8-1', /runs backwards/],
    ['01-08', /no range: its ends are whole numbers without leading zeros/],
    ['1-20000', /that is 20000 slots; at most 10000/],
    ['a b', /"a b" is no slot id/],
    ['', /"" is no slot id/],
    [[], /allowed: a range such as "1-8"/],
    [[1.5], /1\.5 is no slot id/],
    [7, /allowed: a range such as "1-8"/],
  ] as const) {
    const issues = await issuesOf(
      t,
      parseServiceConfig({ ...base(), slots: [{ slotIds, backends: ['recording'] }] }, { baseDir: fixtures, env: {} }),
    );
    t.regex(at(t, issues, 'slots[0].slotIds').allowed, problem, JSON.stringify(slotIds));
  }
});

// --- every section's typos and bad values ---------------------------------------------------------

/** One mistake per case: the config, the issue's path and what its message must say. */
const mistakes: { what: string; config: Record<string, unknown>; path: string; message: RegExp; code?: string }[] = [
  {
    what: 'a top-level typo',
    config: { ...base(), slot: [] },
    path: 'slot',
    message: /unknown field `slot`; allowed: \$schema, scheduler, slots, backends, cron, log, shutdown, http$/,
  },
  {
    what: 'no scheduler',
    config: { slots: base().slots, backends: base().backends },
    path: 'scheduler',
    message: /got undefined; allowed: an object with at least `name`/,
  },
  {
    what: 'a scheduler typo',
    config: { ...base(), scheduler: { name: 'cfg', reddis: 'redis://h' } },
    path: 'scheduler.reddis',
    message: /unknown option `reddis`; allowed: name, redis, postgres,/,
  },
  {
    what: 'a logger in a JSON file',
    config: { ...base(), scheduler: { name: 'cfg', logger: false } },
    path: 'scheduler.logger',
    message: /unknown option `logger`/,
  },
  {
    what: 'a bad scheduler name',
    config: { ...base(), scheduler: { name: 'two words' } },
    path: 'scheduler.name',
    message: /got "two words"; allowed: 1 to 100 letters/,
  },
  {
    what: 'a bad duration',
    config: { ...base(), scheduler: { name: 'cfg', timeout: '5 minutes' } },
    path: 'scheduler.timeout',
    message: /got "5 minutes"; allowed: a number of milliseconds/,
    code: 'ERR_BAD_DURATION',
  },
  {
    what: 'a rule between two options',
    config: { ...base(), scheduler: { name: 'cfg', pollTimeout: '2m' } },
    path: 'scheduler.reservationTimeout',
    message: /longer than pollTimeout/,
  },
  {
    what: 'a postgres that is no URL',
    config: { ...base(), scheduler: { name: 'cfg', postgres: 'mysql://h/db' } },
    path: 'scheduler.postgres',
    message: /allowed: a postgres:\/\/ or postgresql:\/\/ URL .*\(a client object only in a JS or TS config\)/,
  },
  {
    what: 'an unknown default slot class',
    config: { ...base(), scheduler: { name: 'cfg', defaultSlotClass: 'RedisSlto' } },
    path: 'scheduler.defaultSlotClass',
    message: /unknown slot class; registered: MemorySlot, RedisSlot, PostgresSlot/,
    code: 'ERR_UNKNOWN_SLOT_CLASS',
  },
  { what: 'no slots', config: { ...base(), slots: [] }, path: 'slots', message: /allowed: a non-empty array of slots/ },
  {
    what: 'a slot typo',
    config: { ...base(), slots: [{ slotId: 1, backend: ['recording'] }] },
    path: 'slots[0].backend',
    message: /unknown field `backend`; allowed: slotId, slot_id/,
  },
  {
    what: 'a range typo',
    config: { ...base(), slots: [{ slotIds: '1-2', backend: ['recording'] }] },
    path: 'slots[0].backend',
    message: /unknown field `backend`; allowed: slotIds, slotCls/,
  },
  {
    what: 'an unknown backend',
    config: { ...base(), slots: [{ slotId: 1, backends: ['recording', 'reprots'] }] },
    path: 'slots[0].backends[1]',
    message: /got "reprots"; unknown backend; registered: recording/,
    code: 'ERR_UNKNOWN_BACKEND',
  },
  {
    what: 'an unknown slot class',
    config: { ...base(), slots: [{ slotId: 1, slotCls: 'RedisSlto', backends: ['recording'] }] },
    path: 'slots[0].slotCls',
    message: /unknown slot class/,
    code: 'ERR_UNKNOWN_SLOT_CLASS',
  },
  {
    what: 'a bad slot timeout',
    config: { ...base(), slots: [{ slotIds: '1-3', backends: ['recording'], timeout: '50ms' }] },
    path: 'slots[0].timeout',
    message: /allowed: between 100 ms and/,
    code: 'ERR_BAD_DURATION',
  },
  { what: 'no backends', config: { ...base(), backends: [] }, path: 'backends', message: /allowed: an object of backends by name/ },
  {
    what: 'a backend of neither form',
    config: { ...base(), backends: { recording: { modul: 'x.js' } } },
    path: 'backends.recording',
    message: /allowed: \{ "type": "procrastinate", "options": \{…\} \} or \{ "module"/,
  },
  {
    what: 'a backend entry typo',
    config: { ...base(), backends: { recording: { module: join(fixtures, 'recording-backend.js'), opts: {} } } },
    path: 'backends.recording.opts',
    message: /unknown field `opts`; allowed: module, export, options/,
  },
  {
    what: 'an unknown backend type',
    config: { ...base(), backends: { recording: { type: 'celery', options: {} } } },
    path: 'backends.recording.type',
    message: /got "celery"; allowed: "procrastinate"/,
  },
  {
    what: 'a missing export',
    config: { ...base(), backends: { recording: { module: join(fixtures, 'recording-backend.js'), export: 'Nope' } } },
    path: 'backends.recording.export',
    message: /has no export "Nope"; its exports: RecordingBackend, default, notABackend, recordingBackend, sharedBackend/,
  },
  {
    what: 'an export that is no backend',
    config: { ...base(), backends: { recording: { module: join(fixtures, 'recording-backend.js'), export: 'notABackend' } } },
    path: 'backends.recording.export',
    message: /is 42; allowed: a Backend class, a factory returning a Backend, or a Backend instance/,
  },
  {
    what: 'options for an instance',
    config: {
      ...base(),
      backends: { recording: { module: join(fixtures, 'recording-backend.js'), export: 'sharedBackend', options: {} } },
    },
    path: 'backends.recording.options',
    message: /is a backend instance, which takes no options/,
  },
  {
    what: 'a missing module',
    config: { ...base(), backends: { recording: { module: './no-such-backend.js' } } },
    path: 'backends.recording.module',
    message: /cannot import .*no-such-backend\.js: no such file$/,
  },
  {
    what: 'a module that throws on import',
    config: { ...base(), backends: { recording: { module: join(fixtures, 'throws-on-import.js') } } },
    path: 'backends.recording.module',
    message: /cannot import .*throws-on-import\.js: the database password is not configured$/,
  },
  {
    what: 'a bad cron',
    config: { ...base(), cron: 'every minute' },
    path: 'cron',
    message: /got "every minute"; allowed: a node-cron expression/,
  },
  {
    what: 'a log typo',
    config: { ...base(), log: { levle: 'debug' } },
    path: 'log.levle',
    message: /unknown field `levle`; allowed: level, format/,
  },
  {
    what: 'a bad log level',
    config: { ...base(), log: { level: 'loud' } },
    path: 'log.level',
    message: /got "loud"; allowed: "error", "warn", "info", "http", "verbose", "debug", "silly"/,
  },
  { what: 'a bad log format', config: { ...base(), log: { format: 'yaml' } }, path: 'log.format', message: /allowed: "json", "text"/ },
  {
    what: 'an http typo',
    config: { ...base(), http: { prot: 9478 } },
    path: 'http.prot',
    message: /unknown field `prot`; allowed: host, port, token, guardReads, staleAfter, bodyLimit/,
  },
  { what: 'a bad http port', config: { ...base(), http: { port: 70000 } }, path: 'http.port', message: /allowed: a TCP port, 0 to 65535/ },
  {
    what: 'a short http token, not shown',
    config: { ...base(), http: { token: 'hunter2' } },
    path: 'http.token',
    message: /^http\.token: got "\*\*\* \(7 characters\)"; allowed: a string of at least 16 characters/,
  },
  {
    what: 'a shutdown typo',
    config: { ...base(), shutdown: { gracefull: '1m' } },
    path: 'shutdown.gracefull',
    message: /unknown field `gracefull`; allowed: graceful, final/,
  },
  {
    what: 'a bad shutdown duration',
    config: { ...base(), shutdown: { final: 'soon' } },
    path: 'shutdown.final',
    message: /got "soon"; allowed: a number of milliseconds/,
    code: 'ERR_BAD_DURATION',
  },
  {
    what: 'slotClasses in a JSON file',
    config: { ...base(), slotClasses: {} },
    path: 'slotClasses',
    message: /unknown field `slotClasses`/,
  },
];

for (const mistake of mistakes) {
  test(`${mistake.what} is named by path, value and what is allowed`, async (t) => {
    const issues = await issuesOf(t, parseServiceConfig(mistake.config, { baseDir: fixtures, env: {} }));
    const found = at(t, issues, mistake.path);
    t.true(found.message.startsWith(`${mistake.path}: got `), found.message);
    t.regex(found.message, mistake.message);
    t.is(found.code, mistake.code ?? 'ERR_CONFIG');
  });
}

test('the Procrastinate backend: a bad option, a bad queue, and each bad handler are named where they are', async (t) => {
  const procrastinate = (options: Record<string, unknown>) => ({
    ...base(),
    backends: { recording: { type: 'procrastinate', options: { postgres: 'postgres://h/db', queues: ['q'], ...options } } },
  });
  const typo = await issuesOf(t, parseServiceConfig(procrastinate({ handlers: './handlers.js', queue: ['x'] }), { baseDir: fixtures }));
  t.regex(at(t, typo, 'backends.recording.options.queue').message, /unknown option `queue`; allowed: postgres, queues, deleteJobs/);
  const queues = await issuesOf(
    t,
    parseServiceConfig(procrastinate({ handlers: './handlers.js', queues: ['ok', 'x'.repeat(41), ''] }), { baseDir: fixtures }),
  );
  t.deepEqual(paths(queues), ['backends.recording.options.queues[1]', 'backends.recording.options.queues[2]']);
  t.is(queues[0]!.code, 'ERR_QUEUE_NAME');
  const missing = await issuesOf(t, parseServiceConfig(procrastinate({}), { baseDir: fixtures }));
  t.regex(at(t, missing, 'backends.recording.options.handlers').message, /got undefined; allowed: a path such as "\.\/handlers\.js"/);
  const notFunctions = await issuesOf(t, parseServiceConfig(procrastinate({ handlers: './bad-handlers.js' }), { baseDir: fixtures }));
  t.regex(
    at(t, notFunctions, 'backends.recording.options.handlers["add"]').message,
    /got "not a function"; allowed: a handler function, or \{ handler, retry\? \} \(the exports of \.\/bad-handlers\.js\)/,
  );
  const throws = await issuesOf(t, parseServiceConfig(procrastinate({ handlers: './throws-on-import.js' }), { baseDir: fixtures }));
  t.regex(at(t, throws, 'backends.recording.options.handlers').message, /cannot import .*throws-on-import\.js: the database password/);
  t.true(at(t, throws, 'backends.recording.options.handlers').cause instanceof Error);
});

test('every problem of a Procrastinate backend at once: its options, its queues, and each bad handler', async (t) => {
  const backend = (options: Record<string, unknown>) => ({
    type: 'procrastinate',
    options: { postgres: 'postgres://h/db', handlers: './bad-handlers.js', ...options },
  });
  const config = {
    ...base(),
    backends: {
      recording: backend({ queues: 'q', heartbeatInterval: '1h' }),
      other: backend({ queues: ['ok', 'x'.repeat(41)] }),
    },
  };
  const issues = await issuesOf(t, parseServiceConfig(config, { baseDir: fixtures }));
  t.deepEqual(paths(issues), [
    'backends.recording.options.queues',
    'backends.recording.options.heartbeatInterval',
    'backends.recording.options.handlers["add"]',
    'backends.recording.options.handlers["mail"].retry',
    'backends.other.options.queues[1]',
    'backends.other.options.handlers["add"]',
    'backends.other.options.handlers["mail"].retry',
  ]);
  t.regex(at(t, issues, 'backends.recording.options.queues').message, /got "q"; allowed: a non-empty array of queue names/);
  t.regex(
    at(t, issues, 'backends.other.options.handlers["mail"].retry').message,
    /got "often"; .*\(the exports of \.\/bad-handlers\.js\)$/,
  );
});

test('handlers may be a module of named exports, and a handler may carry its retry policy', async (t) => {
  const config = await parseServiceConfig(
    {
      ...base(),
      backends: {
        recording: { type: 'procrastinate', options: { postgres: 'postgres://h/db', queues: ['q'], handlers: './named-handlers.js' } },
      },
    },
    { baseDir: fixtures },
  );
  t.true(typeof config.backends.get('recording') === 'function', 'a class, built by each scheduler');
});

test('a file with mistakes in every section reports all of them at once, in the order of the file', async (t) => {
  const path = writeConfig(t, {
    scheduler: { name: 'bad name', timeout: '5 minutes', reddis: 'redis://:secret@host:6379' },
    slots: [
      { slotIds: '1-4', backends: ['reprots'] },
      { slotId: 2, slotCls: 'RedisSlto', backends: ['reports'] },
    ],
    backends: { reports: { type: 'procrastinate', options: { postgres: '${DATABASE_URL}', queues: [''], handlers: './handlers.js' } } },
    cron: '* * *',
    log: { level: 'loud' },
    shutdown: { graceful: -1 },
    extra: true,
  });
  const issues = await issuesOf(t, loadConfigFile(path, {}), path);
  t.deepEqual(paths(issues), [
    'extra',
    'scheduler.reddis',
    'scheduler.name',
    'scheduler.timeout',
    'slots[0].backends[0]',
    'slots[1].slotCls',
    'slots[1].slotId',
    'backends.reports.options.postgres',
    'backends.reports.options.queues[0]',
    'backends.reports.options.handlers',
    'cron',
    'log.level',
    'shutdown.graceful',
  ]);
  const error = await t.throwsAsync(loadConfigFile(path, {}), { instanceOf: ConfigFileError });
  t.false(error.message.includes('secret'), 'a URL password never shows');
  t.is(error.field, 'extra');
  t.is(error.source, path);
});

// --- files that cannot be read --------------------------------------------------------------------

test('bad JSON gives the line and column of the syntax error', async (t) => {
  const path = writeConfig(t, '{\n  "scheduler": { "name": "x" },\n  "slots": [1,]\n}');
  const [syntax] = await issuesOf(t, loadConfigFile(path, {}), path);
  t.like(syntax, { path: '', line: 3, column: 15 });
  const error = await t.throwsAsync(loadConfigFile(path, {}), { instanceOf: ConfigFileError });
  t.true(error.message.startsWith(`${path}:3:15: invalid JSON: unexpected "]" after ','; a trailing comma is not JSON`), error.message);
  t.true(error.cause instanceof SyntaxError);
});

test('an empty JSON file is invalid JSON at its end', async (t) => {
  const path = writeConfig(t, '');
  const [syntax] = await issuesOf(t, loadConfigFile(path, {}), path);
  t.like(syntax, { line: 1, column: 1 });
  t.is(syntax!.message, 'invalid JSON: unexpected end of file');
});

test('a missing file, a file of another kind, and a JSON file that is no object say so', async (t) => {
  const missing = join(tmpdir(), 'no-such-dir-ts', 'config.json');
  t.regex((await issuesOf(t, loadConfigFile(missing, {}), missing))[0]!.message, /cannot read the config file: ENOENT/);
  const missingModule = join(tmpdir(), 'no-such-dir-ts', 'config.mjs');
  t.regex((await issuesOf(t, loadConfigFile(missingModule, {}), missingModule))[0]!.message, /cannot read the config file: ENOENT/);
  const yaml = writeConfig(t, 'scheduler: {}', 'config.yaml');
  t.regex(
    (await issuesOf(t, loadConfigFile(yaml, {}), yaml))[0]!.message,
    /allowed: a config file ending in \.json, \.js, .*; got "\.yaml"/,
  );
  const array = writeConfig(t, '[]');
  t.regex(
    (await issuesOf(t, loadConfigFile(array, {}), array))[0]!.message,
    /^options: got \[\]; allowed: an object with scheduler, slots and backends/,
  );
});

// --- JS and TS configs -----------------------------------------------------------------------------

test('a JS config: a function of the environment, with a backend class, a module backend and a slot class of its own', async (t) => {
  const name = `js-config-${process.pid}`;
  const config = await loadConfigFile(join(fixtures, 'module-config.mjs'), { SCHEDULER_NAME: name });
  t.deepEqual(config.scheduler, { name, timeout: '1m' });
  t.is(config.backends.get('direct'), RecordingBackend);
  t.deepEqual([...config.slotClasses.keys()], ['SharedMemory']);
  t.deepEqual(
    config.slots.map((slot) => [slot.slotId, slot.slotCls]),
    [
      ['a', 'SharedMemory'],
      ['b', 'SharedMemory'],
    ],
  );
  t.is(config.cron, '*/5 * * * * *');
});

test('a CommonJS config loads, its module paths relative to it', async (t) => {
  const config = await loadConfigFile(join(fixtures, 'commonjs-config.cjs'), {});
  t.is(config.scheduler.name, 'commonjs');
  t.is(config.backends.get('recording'), RecordingBackend);
});

test('a TypeScript config loads through tsx, with a backend instance given directly', async (t) => {
  const config = await loadConfigFile(join(fixtures, 'module-config.ts'), {});
  t.like(config, { scheduler: { name: 'typed-config', maxLocalTasks: 2 }, log: { level: 'debug', format: 'text' } });
  t.is(typeof (config.backends.get('typed') as { poll?: unknown }).poll, 'function');
});

test('a config module without default export, or one that throws, says so', async (t) => {
  const noDefault = join(fixtures, 'no-default.mjs');
  t.regex((await issuesOf(t, loadConfigFile(noDefault, {}), noDefault))[0]!.message, /the module has no default export/);
  const throws = join(fixtures, 'throws-on-import.js');
  const [issue] = await issuesOf(t, loadConfigFile(throws, {}), throws);
  t.regex(issue!.message, /cannot import .*throws-on-import\.js: the database password is not configured/);
  t.true(issue!.cause instanceof Error);
});

test('a JS config may hold what JSON cannot, and still names its mistakes', async (t) => {
  const issues = await issuesOf(
    t,
    parseServiceConfig(
      { ...base(), slotClasses: { Broken: 'not a function' }, backends: { recording: 42 } },
      { baseDir: fixtures, kind: 'module' },
    ),
  );
  t.regex(at(t, issues, 'slotClasses.Broken').message, /allowed: a function returning a SlotStore/);
  t.regex(at(t, issues, 'backends.recording').message, /got 42; .* or a Backend class or instance/);
});
