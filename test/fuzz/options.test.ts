/**
 * Fuzzed options and configs: the Scheduler's options, slot configs given to `load()`, the slot
 * stores' options and the Procrastinate backend's and deferrer's options. Wrong types, unknown keys,
 * typos of known keys, durations out of range, odd strings. Each is accepted (and a scheduler built
 * on it then runs a task), or refused with a ConfigError naming the field, the value and what is
 * allowed (see config-errors.ts). Nothing here reaches a server but the scheduler runs on memory slots.
 */
import test from 'ava';
import fc from 'fast-check';
import { PeriodicDeferrer, ProcrastinateBackend } from '../../backends/procrastinate/index.js';
import { MemorySlotStore } from '../../slots/memory/index.js';
import { PostgresSlotStore } from '../../slots/postgres/index.js';
import { RedisSlotStore } from '../../slots/redis/index.js';
import { ConfigError, describe } from '../../src/core/errors.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { ScriptedBackend } from '../../src/testing/scheduler-kit.js';
import { databaseUrl, redisUrl } from '../helpers/services.js';
import { outcomeOf, outcomeOfAsync } from './config-errors.js';
import { anyValue, fuzzParameters, metaString, oddString, typoOf } from './fuzz-kit.js';

const silent = { error() {}, warn() {}, info() {}, debug() {}, child: () => silent };

/** A duration as users write it, right or wrong: strings with units, numbers of every size, garbage. */
const durationValue = fc.oneof(
  fc.constantFrom('1ms', '250ms', '5s', '1m30s', ' 5m ', '1h', '1d', '24d', '25d', '0s', '5', '5 m', '1.5s', 's', '-1s', '1e3ms'),
  fc.integer({ min: -5, max: 2 ** 32 }),
  fc.double(),
  anyValue(),
);

/** A value for a key: right for it (`good`), or anything. */
const valueFor = (good: fc.Arbitrary<unknown>) => fc.oneof({ arbitrary: good, weight: 3 }, { arbitrary: anyValue(), weight: 1 });

/** Null most of the time (`weight` to 1), else a value of `arbitrary`. */
const sometimes = <T>(arbitrary: fc.Arbitrary<T>, weight = 1) =>
  fc.oneof({ arbitrary: fc.constant(null), weight }, { arbitrary, weight: 1 });

/**
 * An options object: keys with values that are right for them (`good`, default `values`), then
 * often one key set to any of its `values`, and now and then one more key (a typo of a known key
 * or an odd one); or, rarely, something that is no object at all. About a third are all good, so
 * that accepted options are exercised too.
 */
function optionsObject(values: Record<string, fc.Arbitrary<unknown>>, required: readonly string[] = [], good = values) {
  const known = Object.keys(values);
  const change = fc.constantFrom(...known).chain((key) => values[key]!.map((value): [string, unknown] => [key, value]));
  const extra = fc.tuple(fc.oneof(typoOf(known), oddString(100)), anyValue()).filter(([key]) => !known.includes(key));
  const object = fc
    .tuple(fc.record(good, { requiredKeys: required as never[] }), sometimes(change), sometimes(extra, 4))
    .map(([record, changed, added]) => ({
      input: Object.fromEntries([...Object.entries(record), ...(changed ? [changed] : []), ...(added ? [added] : [])]) as Record<
        string,
        unknown
      >,
      extra: added?.[0],
    }));
  return fc.oneof(
    { arbitrary: object, weight: 19 },
    { arbitrary: anyValue().map((input) => ({ input, extra: undefined as string | undefined })), weight: 1 },
  );
}

/** How parseOptions names a key in a field path (prefix `prefix`, or none). */
function keyField(key: string, prefix = ''): string {
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return prefix ? `${prefix}.${key}` : key;
  // A long key is cut short in the field, as the error shows it.
  return `${prefix}[${describe(key)}]`;
}

/**
 * The fields an error about `input` may name: the known keys (under `prefix`), the whole object,
 * and, for an object that is no options object (a stray JSON value), any key it has.
 */
function fieldsOf(input: unknown, extra: string | undefined, known: ReadonlyArray<string | RegExp>, prefix = ''): Array<string | RegExp> {
  if (extra !== undefined) return [keyField(extra, prefix)];
  const own = typeof input === 'object' && input !== null ? Object.keys(input).map((key) => keyField(key, prefix)) : [];
  return [...known.map((k) => (typeof k === 'string' ? keyField(k, prefix) : k)), prefix || 'options', ...own];
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const schedulerValues = {
  name: valueFor(fc.constantFrom('jobs', 'a.b:c-d_1', 'x'.repeat(100), 'x'.repeat(101), 'my jobs', '')),
  // Never a URL that would connect: those are left to the store tests.
  redis: fc.oneof(
    fc.constantFrom('localhost:6379', 'http://localhost', 'redis://h/abc', 'redis://h/1.5', 'postgres://h/db', ''),
    anyValue(),
  ),
  postgres: fc.oneof(fc.constantFrom('localhost:5432', 'mysql://h/db', 'host=h dbname=x', 'redis://h'), anyValue()),
  postgresSchema: valueFor(fc.constantFrom('public', 'jobs_2', '1st', 'a-b', 'x'.repeat(63), 'x'.repeat(64), '"x"', 'a; DROP TABLE x')),
  keyPrefix: valueFor(fc.constantFrom('app:sem', 'a{b}', '{', '', 'x'.repeat(101))),
  defaultSlotClass: valueFor(fc.constantFrom('MemorySlot', 'RedisSlot', 'PostgresSlot', 'Mine', '')),
  logger: valueFor(fc.constantFrom(false, true, silent, console, {}, { ...silent, child: undefined })),
  timeout: durationValue,
  processLease: durationValue,
  pollTimeout: durationValue,
  callbackTimeout: durationValue,
  deliveryLease: durationValue,
  reservationTimeout: durationValue,
  endedRetention: durationValue,
  reapLimit: valueFor(fc.constantFrom(1, 1000, 0, -1, 1.5, 2 ** 60, '100')),
  maxLocalTasks: valueFor(fc.constantFrom(1, 3, Infinity, 0, -Infinity, Number.NaN, '2')),
  owner: valueFor(fc.oneof(fc.constantFrom('me', ''), oddString(100))),
};

/** Durations a scheduler runs with: short ones, so that the task still runs. */
const goodDuration = fc.constantFrom('1s', '5s', '30s', '1m', '5m', 2000, '1h30m', ' 10s ');

const schedulerGood = {
  name: fc.constantFrom('jobs', 'a.b:c-d_1', 'x'.repeat(100)),
  postgresSchema: fc.constantFrom('public', 'jobs_2', 'x'.repeat(63)),
  keyPrefix: fc.constantFrom('app:sem', 'p'),
  defaultSlotClass: fc.constant('MemorySlot'),
  logger: fc.constantFrom(false, silent),
  timeout: goodDuration,
  processLease: goodDuration,
  // Within the rules between options (a reservation outlives a poll, a delivery lease two callbacks).
  pollTimeout: fc.constantFrom('1s', '5s', 2000),
  callbackTimeout: fc.constantFrom('1s', '5s', '30s'),
  deliveryLease: fc.constantFrom('2m', '5m'),
  reservationTimeout: fc.constantFrom('30s', '1m', '5m'),
  endedRetention: goodDuration,
  reapLimit: fc.integer({ min: 1, max: 5000 }),
  maxLocalTasks: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.constant(Infinity)),
  owner: fc.oneof(
    fc.constant('me'),
    metaString(4).filter((o) => o.length > 0),
  ),
};

test('Scheduler options: accepted and working, or a ConfigError naming the option', async (t) => {
  const keys = Object.keys(schedulerValues);
  let ran = 0;
  await fc.assert(
    fc.asyncProperty(optionsObject(schedulerValues, ['name'], schedulerGood), async ({ input, extra }) => {
      const built = outcomeOf(t, () => new Scheduler(input as never), fieldsOf(input, extra, keys));
      if (!built.ok) return;
      const options = input as Record<string, unknown>;
      if (options.redis !== undefined || options.postgres !== undefined) return void (await built.value.close());
      if (await runsATask(t, built.value)) ran++;
    }),
    fuzzParameters(300),
  );
  // Not vacuous: enough of the cases were accepted and ran a task.
  t.true(ran >= 30 * Number(process.env.FUZZ_RUNS ?? 1), `${ran} of the cases ran a task`);
});

/**
 * Loads one slot and runs a task on an accepted scheduler. A slot class the options name but
 * cannot serve (RedisSlot without `redis`) is refused by load(), naming what is missing.
 */
async function runsATask(t: { pass(): void }, scheduler: Scheduler): Promise<boolean> {
  const backend = new ScriptedBackend(['task-1']);
  scheduler.registerBackend('A', backend);
  try {
    const loaded = await outcomeOfAsync(t as never, () => scheduler.load([{ slotId: 1, backends: ['A'] }]), [
      'redis',
      'postgres',
      'defaultSlotClass',
    ]);
    if (!loaded.ok) return false;
    await scheduler.schedule();
    if (backend.started.length !== 1) throw new Error(`the task did not start: ${JSON.stringify(backend.started)}`);
    await scheduler.stop('task-1');
    return true;
  } finally {
    await scheduler.close();
  }
}

const slotValues = {
  slotId: valueFor(fc.oneof(fc.integer(), fc.constantFrom('a', 'a.b:c-1', 'x'.repeat(129), 'a b', ''))),
  slot_id: valueFor(fc.integer({ min: 0, max: 5 })),
  slotCls: valueFor(fc.constantFrom('MemorySlot', 'RedisSlot', 'Memoryslot')),
  slot_cls: valueFor(fc.constantFrom('MemorySlot')),
  backends: valueFor(fc.array(fc.oneof(fc.constantFrom('A', 'B'), oddString(50)), { maxLength: 3 })),
  timeout: durationValue,
  maxRuntime: fc.oneof(durationValue, fc.constant(null)),
  max_runtime: durationValue,
  slotKwargs: valueFor(
    fc.record(
      {
        timeout_after: valueFor(fc.double({ min: -1, max: 1e6 })),
        timeoutAfter: valueFor(fc.integer({ min: 1, max: 60 })),
        timeout: durationValue,
        max_runtime: durationValue,
        maxRuntime: durationValue,
      },
      { requiredKeys: [] },
    ),
  ),
  slot_kwargs: valueFor(fc.record({ timeout_after: valueFor(fc.integer({ min: 1, max: 60 })) }, { requiredKeys: [] })),
};

test('slot configs given to load(): loaded and served, or a ConfigError naming the slot and its field', async (t) => {
  // Every field of a slot config, a typo of one or an odd key: `slots[2].backends[0]`, `slots[0]["a b"]`.
  const slotGood = {
    slotId: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constantFrom('a', 'a.b:c-1', 'x'.repeat(128))),
    backends: fc.shuffledSubarray(['A', 'B'], { minLength: 1 }),
    slotCls: fc.constant('MemorySlot'),
    timeout: goodDuration,
    maxRuntime: fc.oneof(goodDuration, fc.constant(null)),
    slotKwargs: fc.record({ timeout_after: fc.integer({ min: 1, max: 60 }) }, { requiredKeys: [] }),
  };
  const slotEntry = optionsObject(slotValues, ['slotId', 'backends'], slotGood).map(({ input }) => input);
  const config = fc.oneof({ arbitrary: fc.array(slotEntry, { maxLength: 4 }), weight: 9 }, { arbitrary: anyValue(), weight: 1 });
  let loadedSlots = 0;
  await fc.assert(
    fc.asyncProperty(config, async (slots) => {
      const scheduler = new Scheduler({ name: 'fuzz', logger: false });
      scheduler.registerBackend('A', new ScriptedBackend(['task-a'])).registerBackend('B', new ScriptedBackend(['task-b']));
      try {
        const loaded = await outcomeOfAsync(t, () => scheduler.load(slots as never), [/slots(\[\d+\].*)?/, 'redis']);
        if (!loaded.ok) return;
        const listed = (await scheduler.inspect()).map((s) => s.slotId).sort();
        const given = (slots as Array<Record<string, unknown>>).map((s) => String(s.slotId ?? s.slot_id)).sort();
        if (JSON.stringify(listed) !== JSON.stringify(given)) throw new Error(`loaded slots ${listed.join(',')}, given ${given.join(',')}`);
        await scheduler.schedule();
        if (listed.length > 0) loadedSlots++;
      } finally {
        await scheduler.close();
      }
    }),
    fuzzParameters(300),
  );
  t.true(loadedSlots >= 30 * Number(process.env.FUZZ_RUNS ?? 1), `${loadedSlots} of the configs loaded slots`);
});

test('slot store options: accepted, or a ConfigError naming the option', async (t) => {
  const accepted: Record<string, number> = {};
  const storeValues = {
    name: valueFor(fc.oneof(fc.constantFrom('jobs', ''), oddString(200))),
    keyPrefix: valueFor(fc.oneof(fc.constantFrom('p', '', '{p}'), oddString(200))),
    outboxLimit: valueFor(fc.constantFrom(0, 1, 10, -1, 1.5, '5')),
  };
  const cases = [
    {
      label: 'RedisSlotStore',
      build: (o: unknown, add: boolean) => new RedisSlotStore((add ? { redis: redisUrl, ...(o as object) } : o) as never),
      prefix: '',
    },
    {
      label: 'PostgresSlotStore',
      build: (o: unknown, add: boolean) => new PostgresSlotStore((add ? { postgres: databaseUrl, ...(o as object) } : o) as never),
      prefix: 'PostgresSlotStoreOptions',
    },
    { label: 'MemorySlotStore', build: (o: unknown) => new MemorySlotStore(o as never), prefix: 'MemorySlotStoreOptions' },
  ];
  const schemaValue = valueFor(fc.constantFrom('public', 'jobs_2', '1st', 'a-b', '"x"', 'a; DROP TABLE x', 'x'.repeat(64)));
  for (const { label, build, prefix } of cases) {
    const values: Record<string, fc.Arbitrary<unknown>> = label === 'MemorySlotStore'
      ? { outboxLimit: storeValues.outboxLimit, now: valueFor(fc.constant(() => 0)) }
      : label === 'PostgresSlotStore'
        ? { ...storeValues, schema: schemaValue }
        : storeValues;
    if (label === 'PostgresSlotStore') delete values.keyPrefix;
    const keys = Object.keys(values);
    const good = Object.fromEntries(
      Object.entries({
        name: fc.oneof(
          fc.constant('jobs'),
          metaString(4).filter((n) => n.length > 0 && !/[{}]/.test(n)),
        ),
        keyPrefix: fc.constantFrom('p', '', 'a:b'),
        schema: fc.constantFrom('public', 'jobs_2'),
        outboxLimit: fc.constantFrom(1, 10),
        now: fc.constant(() => 0),
      }).filter(([key]) => key in values),
    );
    await fc.assert(
      fc.asyncProperty(optionsObject(values, label === 'MemorySlotStore' ? [] : ['name'], good), async ({ input, extra }) => {
        const fields = fieldsOf(input, extra, [...keys, 'redis', 'postgres'], prefix);
        // The connection is added to an options object; anything else goes in as it is.
        const isObject = typeof input === 'object' && input !== null && !Array.isArray(input);
        const built = outcomeOf(t, () => build(input, isObject), fields);
        if (built.ok) accepted[label] = (accepted[label] ?? 0) + 1;
        if (built.ok) await built.value.close();
      }),
      fuzzParameters(150),
    );
  }
  for (const { label } of cases) t.true((accepted[label] ?? 0) >= 15, `${label}: ${accepted[label] ?? 0} accepted`);
});

test('Procrastinate backend options: accepted, or a ConfigError naming the option, the queue or the task', async (t) => {
  const handler = () => {};
  let accepted = 0;
  const values = {
    postgres: fc.constant(databaseUrl),
    queues: valueFor(
      fc.array(fc.oneof(fc.constantFrom('default', 'x'.repeat(40), 'x'.repeat(41), '€'.repeat(14), ''), oddString(60)), { maxLength: 3 }),
    ),
    tasks: valueFor(
      fc.dictionary(
        fc.oneof(fc.constantFrom('app.t', 'x'.repeat(129)), oddString(150)),
        fc.oneof(
          fc.constant(handler),
          fc.record(
            {
              handler: valueFor(fc.constant(handler)),
              retry: valueFor(
                fc.oneof(
                  fc.boolean(),
                  fc.integer({ min: -1, max: 5 }),
                  fc.record({ maxAttempts: anyValue(), wait: anyValue(), retryOn: anyValue() }, { requiredKeys: [] }),
                ),
              ),
            },
            { requiredKeys: [] },
          ),
          anyValue(),
        ),
        { maxKeys: 3 },
      ),
    ),
    deleteJobs: valueFor(fc.constantFrom('never', 'successful', 'always', 'Always')),
    retryOnTimeout: valueFor(fc.boolean()),
    shutdownGrace: durationValue,
    heartbeatInterval: durationValue,
    abortPollInterval: durationValue,
    sweepInterval: durationValue,
    staleWorkerTimeout: durationValue,
    preparedStatements: valueFor(fc.boolean()),
    logger: valueFor(fc.constantFrom(false, silent)),
  };
  const good = {
    postgres: values.postgres,
    queues: fc.uniqueArray(fc.constantFrom('default', 'q1', '€'.repeat(13), "it's"), { minLength: 1 }),
    tasks: fc.dictionary(
      fc.constantFrom('app.t', 'app.u', "odd 'name'"),
      fc.oneof(
        fc.constant(handler),
        fc.record({ handler: fc.constant(handler), retry: fc.oneof(fc.boolean(), fc.integer({ min: 0, max: 5 })) }),
      ),
      { minKeys: 1 },
    ),
    deleteJobs: fc.constantFrom('never', 'successful', 'always'),
    retryOnTimeout: fc.boolean(),
    shutdownGrace: fc.constantFrom('0s', '5s', 1000),
    heartbeatInterval: fc.constantFrom('1s', '10s'),
    abortPollInterval: fc.constantFrom('1s', '5s'),
    sweepInterval: fc.constantFrom(0, '30s'),
    staleWorkerTimeout: fc.constantFrom('20s', '1m'),
    preparedStatements: fc.boolean(),
    logger: fc.constantFrom(false, silent),
  };
  const keys = Object.keys(values);
  await fc.assert(
    fc.asyncProperty(optionsObject(values, ['postgres', 'queues', 'tasks'], good), async ({ input, extra }) => {
      if (
        outcomeOf(
          t,
          () => new ProcrastinateBackend(input as never),
          // Inside a task: `.handler`, `.$` (identifiers, as fieldName writes them) or `["odd key"]`.
          fieldsOf(input, extra, [...keys, /queues\[\d+\]/, /tasks\[".*"(…\(\d+ characters\))?\](\.[\w$]+|\[".*"\])*/]),
        ).ok
      )
        accepted++;
    }),
    fuzzParameters<[{ input: unknown; extra: string | undefined }]>(300, {
      // A key `$` inside a task's options is named `tasks[" "].$`, as JavaScript would write it.
      examples: [[{ input: { postgres: databaseUrl, queues: ['default'], tasks: { ' ': { $: null, 'a b': 1 } } }, extra: undefined }]],
    }),
  );
  t.true(accepted >= 30, `${accepted} accepted`);
});

test('PeriodicDeferrer options: accepted, or a ConfigError naming the option or the task', async (t) => {
  let accepted = 0;
  const task = fc.record(
    {
      taskName: valueFor(fc.oneof(fc.constantFrom('app.t'), oddString(150))),
      cron: valueFor(fc.constantFrom('* * * * *', '*/5 * * * * *', '* * * * * * *', '61 * * * *', 'every minute', '')),
      args: valueFor(fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom({ a: 10n }, { a: undefined }))),
      queue: valueFor(fc.oneof(fc.constantFrom('default', 'x'.repeat(41)), oddString(60))),
      lock: valueFor(fc.oneof(fc.constant(null), oddString(60))),
      queueingLock: valueFor(fc.oneof(fc.constant(null), oddString(60))),
      priority: valueFor(fc.integer()),
      periodicId: valueFor(oddString(60)),
    },
    { requiredKeys: ['taskName', 'cron'] },
  );
  const values = {
    postgres: fc.constant(databaseUrl),
    tasks: valueFor(fc.array(task, { maxLength: 3 })),
    logger: valueFor(fc.constantFrom(false, silent)),
    maxLateness: durationValue,
    timezone: valueFor(fc.constantFrom('UTC', 'Europe/Paris', 'Mars/Olympus', '')),
  };
  const goodTask = fc.record(
    {
      taskName: fc.constantFrom('app.t', "odd 'name' €"),
      cron: fc.constantFrom('* * * * *', '*/5 * * * *', '0 0 * * * */10'),
      args: fc.dictionary(
        metaString(3),
        fc.jsonValue({ maxDepth: 1 }).filter((v) => !JSON.stringify(v).includes('\\u')),
        { maxKeys: 2 },
      ),
      queue: fc.constantFrom('default', '€'.repeat(13)),
      lock: fc.constantFrom(null, "'; --"),
      priority: fc.integer({ min: -5, max: 5 }),
    },
    { requiredKeys: ['taskName', 'cron'] },
  );
  const good = {
    postgres: values.postgres,
    tasks: fc.array(goodTask, { maxLength: 3 }),
    logger: fc.constantFrom(false, silent),
    maxLateness: fc.constantFrom('0s', '10m', 60_000),
    timezone: fc.constantFrom('UTC', 'Europe/Paris'),
  };
  const keys = Object.keys(values);
  const prefix = 'PeriodicDeferrerOptions';
  await fc.assert(
    fc.asyncProperty(optionsObject(values, ['postgres', 'tasks'], good), async ({ input, extra }) => {
      const fields = fieldsOf(input, extra, [...keys, new RegExp(`${escape(prefix)}\\.tasks\\[\\d+\\].*`)], prefix);
      const built = outcomeOf(t, () => new PeriodicDeferrer(input as never), fields);
      if (built.ok) accepted++;
      if (built.ok) await built.value.stop();
    }),
    fuzzParameters(300),
  );
  t.true(accepted >= 30, `${accepted} accepted`);
});

test('the checks above can fail: a TypeError or a message without the field is caught', (t) => {
  // Guards the guard: the property helpers must refuse what the project promises never to throw.
  t.throws(() => outcomeOf(t, () => JSON.parse('{'), ['x']), { message: /not a ConfigError/ });
  t.throws(
    () =>
      outcomeOf(t, () => {
        throw new ConfigError('other', 1, 'allowed: 2');
      }, ['x']),
    { message: /names the field "other"/ },
  );
  t.throws(
    () =>
      outcomeOf(t, () => {
        throw new ConfigError('x', 1, `allowed: ${'z'.repeat(2000)}`);
      }, ['x']),
    { message: /message of \d+ characters/ },
  );
});
