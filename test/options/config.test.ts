/**
 * `normalizeConfig`: the Python original's config loads unchanged, camelCase and JSON configs load,
 * defaults apply, and every bad input is a ConfigError naming the field, the bad value and what is
 * allowed.
 */
import test, { type ExecutionContext } from 'ava';
import { normalizeConfig, type ConfigDefaults } from '../../src/scheduler/config.js';
import { ConfigError, isTaskSemaphoreError } from '../../src/core/errors.js';

const defaults: ConfigDefaults = {
  slotCls: 'MemorySlot',
  timeoutMs: 300_000,
  slotClasses: ['MemorySlot', 'RedisSlot', 'PostgresSlot'],
  backends: ['MyBackend', 'Other'],
};

interface Expected {
  code: string;
  field: string;
  value: unknown;
  /** Substrings the message must contain, besides the field path. */
  mentions: string[];
}

/** Asserts that loading `config` throws a ConfigError with these details, and returns it. */
function rejects(t: ExecutionContext, config: unknown, expected: Expected, options: ConfigDefaults = defaults): ConfigError {
  const error = t.throws(() => normalizeConfig(config, options), { instanceOf: ConfigError });
  t.true(isTaskSemaphoreError(error));
  t.is(error.name, 'ConfigError');
  t.is(error.code, expected.code);
  t.is(error.field, expected.field);
  if (typeof expected.value === 'object' && expected.value !== null) t.deepEqual(error.value, expected.value);
  else t.is(error.value, expected.value);
  t.true(error.message.startsWith(`${expected.field}: `), error.message);
  for (const mention of expected.mentions) t.true(error.message.includes(mention), `"${mention}" missing from: ${error.message}`);
  return error;
}

// --- configs that load ---------------------------------------------------------------------------

test('the Python original config loads unchanged', (t) => {
  const slots = normalizeConfig(
    [{ backends: ['MyBackend'], slot_cls: 'RedisSlot', slot_id: 1, slot_kwargs: { timeout_after: 60 } }],
    defaults,
  );
  t.deepEqual(slots, [{ slotId: '1', slotCls: 'RedisSlot', backends: ['MyBackend'], timeoutMs: 3_600_000, maxRuntimeMs: null }]);
});

test('timeout_after is in minutes, fractions included', (t) => {
  const [slot] = normalizeConfig([{ slot_id: 2, backends: ['MyBackend'], slot_kwargs: { timeout_after: 0.5 } }], defaults);
  t.is(slot?.timeoutMs, 30_000);
});

test('a camelCase config with duration strings loads, keeping backend order', (t) => {
  const slots = normalizeConfig(
    [{ slotId: 'etl-1', slotCls: 'PostgresSlot', backends: ['Other', 'MyBackend'], timeout: '5m', maxRuntime: '1h' }],
    defaults,
  );
  t.deepEqual(slots, [
    { slotId: 'etl-1', slotCls: 'PostgresSlot', backends: ['Other', 'MyBackend'], timeoutMs: 300_000, maxRuntimeMs: 3_600_000 },
  ]);
});

test('a config read from JSON loads', (t) => {
  const json = `[
    { "slot_id": 1, "slot_cls": "RedisSlot", "backends": ["MyBackend"], "slot_kwargs": { "timeout_after": 60 } },
    { "slotId": "two", "backends": ["MyBackend", "Other"], "timeout": "90s", "max_runtime": "2h" }
  ]`;
  const slots = normalizeConfig(JSON.parse(json), defaults);
  t.deepEqual(slots, [
    { slotId: '1', slotCls: 'RedisSlot', backends: ['MyBackend'], timeoutMs: 3_600_000, maxRuntimeMs: null },
    { slotId: 'two', slotCls: 'MemorySlot', backends: ['MyBackend', 'Other'], timeoutMs: 90_000, maxRuntimeMs: 7_200_000 },
  ]);
});

test('a slot without slot class or timeout gets the defaults', (t) => {
  const custom: ConfigDefaults = { ...defaults, slotCls: 'PostgresSlot', timeoutMs: 123_000 };
  const slots = normalizeConfig([{ slotId: 7, backends: ['MyBackend'] }], custom);
  t.deepEqual(slots, [{ slotId: '7', slotCls: 'PostgresSlot', backends: ['MyBackend'], timeoutMs: 123_000, maxRuntimeMs: null }]);
});

test('an empty config loads as no slots', (t) => {
  t.deepEqual(normalizeConfig([], defaults), []);
});

// --- configs that do not load --------------------------------------------------------------------

test('an unknown slot class is rejected, listing the registered ones', (t) => {
  rejects(t, [{ slotId: 1, slotCls: 'RedisSlto', backends: ['MyBackend'] }], {
    code: 'ERR_UNKNOWN_SLOT_CLASS',
    field: 'slots[0].slotCls',
    value: 'RedisSlto',
    mentions: ['"RedisSlto"', 'MemorySlot, RedisSlot, PostgresSlot'],
  });
});

test('an unknown backend is rejected, listing the registered ones', (t) => {
  rejects(t, [{ slotId: 1, backends: ['MyBackend', 'Nope'] }], {
    code: 'ERR_UNKNOWN_BACKEND',
    field: 'slots[0].backends[1]',
    value: 'Nope',
    mentions: ['"Nope"', 'MyBackend, Other'],
  });
});

test('a backend named before any is registered says to register it', (t) => {
  rejects(
    t,
    [{ slotId: 1, backends: ['MyBackend'] }],
    { code: 'ERR_UNKNOWN_BACKEND', field: 'slots[0].backends[0]', value: 'MyBackend', mentions: ['"MyBackend"', 'registerBackend'] },
    { ...defaults, backends: [] },
  );
});

test('duplicate slot ids are rejected, naming both slots', (t) => {
  rejects(
    t,
    [
      { slotId: 1, backends: ['MyBackend'] },
      { slotId: 'a', backends: ['MyBackend'] },
      { slot_id: '1', backends: ['Other'] },
    ],
    { code: 'ERR_DUPLICATE_SLOT_ID', field: 'slots[2].slotId', value: '1', mentions: ['"1"', 'slots[0]', 'unique'] },
  );
});

test('a missing backend list is rejected; an empty one is a slot only acquire() fills', (t) => {
  const mentions = ['an array of registered backend names', 'acquire()'];
  t.deepEqual(normalizeConfig([{ slotId: 1, backends: [] }], defaults)[0]!.backends, []);
  rejects(t, [{ slotId: 1 }], {
    code: 'ERR_BAD_BACKENDS',
    field: 'slots[0].backends',
    value: undefined,
    mentions: ['undefined', ...mentions],
  });
  rejects(t, [{ slotId: 1, backends: 'MyBackend' }], {
    code: 'ERR_BAD_BACKENDS',
    field: 'slots[0].backends',
    value: 'MyBackend',
    mentions: ['"MyBackend"', ...mentions],
  });
});

test('a backend listed twice in one slot is rejected', (t) => {
  rejects(t, [{ slotId: 1, backends: ['MyBackend', 'Other', 'MyBackend'] }], {
    code: 'ERR_DUPLICATE_BACKEND',
    field: 'slots[0].backends[2]',
    value: 'MyBackend',
    mentions: ['"MyBackend"', 'once'],
  });
});

test('the same backend in two slots is fine', (t) => {
  const slots = normalizeConfig(
    [
      { slotId: 1, backends: ['MyBackend'] },
      { slotId: 2, backends: ['MyBackend'] },
    ],
    defaults,
  );
  t.is(slots.length, 2);
});

for (const [bad, shown] of [
  ['5 minutes', '"5 minutes"'],
  ['abc', '"abc"'],
  [-1, '-1'],
  [0, '0'],
] as const) {
  test(`a bad timeout (${String(bad)}) is rejected`, (t) => {
    rejects(t, [{ slotId: 1, backends: ['MyBackend'], timeout: bad }], {
      code: 'ERR_BAD_DURATION',
      field: 'slots[0].timeout',
      value: bad,
      mentions: [shown, 'allowed'],
    });
  });
}

test('a NaN timeout is rejected, and the message shows NaN', (t) => {
  // describe(NaN) goes through JSON.stringify, which prints null: see the report.
  rejects(t, [{ slotId: 1, backends: ['MyBackend'], timeout: Number.NaN }], {
    code: 'ERR_BAD_DURATION',
    field: 'slots[0].timeout',
    value: Number.NaN,
    mentions: ['allowed'],
  });
});

test('a NaN timeout is shown as "null" in the message', (t) => {
  const error = t.throws(() => normalizeConfig([{ slotId: 1, backends: ['MyBackend'], timeout: Number.NaN }], defaults), {
    instanceOf: ConfigError,
  });
  t.true(error.message.includes('got NaN'), error.message);
});

test('bad durations in every duration field name that field', (t) => {
  rejects(t, [{ slotId: 1, backends: ['MyBackend'], maxRuntime: '1 hour' }], {
    code: 'ERR_BAD_DURATION',
    field: 'slots[0].maxRuntime',
    value: '1 hour',
    mentions: ['"1 hour"'],
  });
  rejects(t, [{ slot_id: 1, backends: ['MyBackend'], max_runtime: 'abc' }], {
    code: 'ERR_BAD_DURATION',
    field: 'slots[0].max_runtime',
    value: 'abc',
    mentions: ['"abc"'],
  });
  rejects(t, [{ slot_id: 1, backends: ['MyBackend'], slot_kwargs: { timeout_after: -1 } }], {
    code: 'ERR_BAD_DURATION',
    field: 'slots[0].slot_kwargs.timeout_after',
    value: -1,
    mentions: ['-1', 'minutes'],
  });
  rejects(t, [{ slot_id: 1, backends: ['MyBackend'], slot_kwargs: { timeout_after: '60' } }], {
    code: 'ERR_BAD_DURATION',
    field: 'slots[0].slot_kwargs.timeout_after',
    value: '60',
    mentions: ['"60"', 'minutes'],
  });
  rejects(t, [{ slotId: 1, backends: ['MyBackend'], slotKwargs: { timeout: '5 minutes' } }], {
    code: 'ERR_BAD_DURATION',
    field: 'slots[0].slotKwargs.timeout',
    value: '5 minutes',
    mentions: ['"5 minutes"'],
  });
});

test('an unknown key (a typo of backends) is rejected, listing the allowed keys', (t) => {
  rejects(t, [{ slotId: 1, backend: ['MyBackend'] }], {
    code: 'ERR_CONFIG',
    field: 'slots[0].backend',
    value: ['MyBackend'],
    mentions: ['unknown field', 'backends', 'slotId', 'slot_kwargs'],
  });
});

test('an unknown key inside slot_kwargs is rejected', (t) => {
  rejects(t, [{ slot_id: 1, backends: ['MyBackend'], slot_kwargs: { timeout_afer: 60 } }], {
    code: 'ERR_CONFIG',
    field: 'slots[0].slot_kwargs.timeout_afer',
    value: 60,
    mentions: ['unknown field', 'timeout_after'],
  });
});

test('slot_kwargs that is not an object is rejected', (t) => {
  rejects(t, [{ slot_id: 1, backends: ['MyBackend'], slot_kwargs: 60 }], {
    code: 'ERR_CONFIG',
    field: 'slots[0].slot_kwargs',
    value: 60,
    mentions: ['60', 'timeout_after'],
  });
});

test('giving both slotId and slot_id is rejected', (t) => {
  rejects(t, [{ slotId: 1, slot_id: 2, backends: ['MyBackend'] }], {
    code: 'ERR_CONFIG',
    field: 'slots[0].slot_id',
    value: 2,
    mentions: ['slotId', 'slot_id', 'not both'],
  });
});

test('giving both slotCls and slot_cls is rejected', (t) => {
  rejects(t, [{ slotId: 1, slotCls: 'MemorySlot', slot_cls: 'RedisSlot', backends: ['MyBackend'] }], {
    code: 'ERR_CONFIG',
    field: 'slots[0].slot_cls',
    value: 'RedisSlot',
    mentions: ['slotCls', 'slot_cls', 'not both'],
  });
});

test('giving both maxRuntime and max_runtime is not rejected', (t) => {
  // slotId/slot_id, slotCls/slot_cls and slotKwargs/slot_kwargs go through pick(), which rejects
  // both spellings; maxRuntimeOf() does not, and silently keeps maxRuntime.
  t.throws(() => normalizeConfig([{ slotId: 1, backends: ['MyBackend'], maxRuntime: '1h', max_runtime: '2h' }], defaults), {
    instanceOf: ConfigError,
  });
});

test('giving both timeout_after and timeoutAfter is not rejected', (t) => {
  t.throws(
    () => normalizeConfig([{ slot_id: 1, backends: ['MyBackend'], slot_kwargs: { timeout_after: 60, timeoutAfter: 5 } }], defaults),
    {
      instanceOf: ConfigError,
    },
  );
});

test('a config that is not an array is rejected', (t) => {
  const mentions = ['array'];
  rejects(t, { slots: [] }, { code: 'ERR_CONFIG', field: 'slots', value: { slots: [] }, mentions: ['{"slots":[]}', ...mentions] });
  rejects(t, null, { code: 'ERR_CONFIG', field: 'slots', value: null, mentions: ['null', ...mentions] });
  // A JSON string the caller forgot to parse.
  const json = '[{"slot_id":1,"backends":["MyBackend"]}]';
  rejects(t, json, { code: 'ERR_CONFIG', field: 'slots', value: json, mentions: [...mentions] });
});

test('a slot that is not an object is rejected', (t) => {
  const mentions = ['object'];
  rejects(t, [{ slotId: 1, backends: ['MyBackend'] }, 'MyBackend'], {
    code: 'ERR_CONFIG',
    field: 'slots[1]',
    value: 'MyBackend',
    mentions: ['"MyBackend"', ...mentions],
  });
  rejects(t, [null], { code: 'ERR_CONFIG', field: 'slots[0]', value: null, mentions: ['null', ...mentions] });
  rejects(t, [['MyBackend']], { code: 'ERR_CONFIG', field: 'slots[0]', value: ['MyBackend'], mentions: ['["MyBackend"]', ...mentions] });
});

for (const [label, bad, shown] of [
  ['an object', { id: 1 }, '{"id":1}'],
  ['an empty string', '', '""'],
  ['a fraction', 1.5, '1.5'],
  ['a string with spaces', 'slot one', '"slot one"'],
  ['missing', undefined, 'undefined'],
] as const) {
  test(`a bad slot id (${label}) is rejected`, (t) => {
    rejects(t, [{ slotId: bad, backends: ['MyBackend'] }], {
      code: 'ERR_CONFIG',
      field: 'slots[0].slotId',
      value: bad,
      mentions: [shown, 'allowed'],
    });
  });
}
