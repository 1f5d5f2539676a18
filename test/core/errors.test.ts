/** Errors: passwords never reach a message, every error is recognisable, non-Error throws are wrapped. */
import test from 'ava';
import {
  CallTimeoutError,
  ConfigError,
  PollResultError,
  SchedulerStateError,
  StoreUnavailableError,
  TaskAbortedError,
  TaskSemaphoreError,
  isTaskSemaphoreError,
  redactUrl,
  toError,
} from '../../src/core/errors.js';

// --- redactUrl -------------------------------------------------------------------------------------

for (const [url, redacted] of [
  ['redis://:secret@host:6379', 'redis://:***@host:6379'],
  ['redis://default:secret@host:6379/2', 'redis://default:***@host:6379/2'],
  ['rediss://:secret@cache.example.com:6380', 'rediss://:***@cache.example.com:6380'],
  ['redis://secret@host:6379', 'redis://***@host:6379'], // a lone user-info part is the password for Redis AUTH
  ['postgres://app:secret@db.example.com:5432/prod', 'postgres://app:***@db.example.com:5432/prod'],
  ['postgresql://app:secret@db/prod?sslmode=require', 'postgresql://app:***@db/prod?sslmode=require'],
  ['postgres://:secret@db/prod', 'postgres://:***@db/prod'],
  ['postgres://app:p%40ss%2Fw0rd@db/prod', 'postgres://app:***@db/prod'],
] as const) {
  test(`redactUrl hides the password of ${url}`, (t) => {
    const out = redactUrl(url);
    t.is(out, redacted);
    t.false(out.includes('secret'));
    t.false(out.includes('p%40ss'));
  });
}

for (const url of [
  'redis://host:6379',
  'redis://127.0.0.1:6379/0',
  'postgres://app@db.example.com:5432/prod',
  'postgresql://db/prod?sslmode=require',
]) {
  test(`redactUrl leaves ${url} alone`, (t) => {
    t.is(redactUrl(url), url);
  });
}

test('redactUrl hides user info even in a string that is not a valid URL', (t) => {
  const out = redactUrl('redis://:se cret@bad host:port');
  t.false(out.includes('se cret'), out);
  t.is(redactUrl('/var/run/redis.sock'), '/var/run/redis.sock');
});

test('redactUrl leaves a password given as a query parameter (postgres)', (t) => {
  // pg-connection-string (and libpq) read `?password=`; the URL then reaches error messages as is.
  t.false(redactUrl('postgres://app@db/prod?password=secret').includes('secret'));
});

test('redactUrl leaves a password given as a query parameter (redis)', (t) => {
  // ioredis merges query parameters into its options, `password` included.
  t.false(redactUrl('redis://host:6379?password=secret').includes('secret'));
});

test('redactUrl leaves the password of a scheme-less Redis URL', (t) => {
  // ioredis accepts `user:pass@host:port` without a scheme; new URL() parses it as scheme "user:".
  t.false(redactUrl('default:secret@host:6379').includes('secret'));
});

// --- StoreUnavailableError -------------------------------------------------------------------------

test('StoreUnavailableError never shows the password, and keeps the cause', (t) => {
  const cause = new Error('connect ECONNREFUSED 10.0.0.1:6379');
  const error = new StoreUnavailableError('Redis', 'redis://default:secret@10.0.0.1:6379', cause);
  t.false(error.message.includes('secret'), error.message);
  t.false(error.url.includes('secret'), error.url);
  t.false(JSON.stringify(error).includes('secret'));
  t.false(String(error.stack).includes('secret'));
  t.true(error.message.includes('redis://default:***@10.0.0.1:6379'), error.message);
  t.true(error.message.includes('ECONNREFUSED'), error.message);
  t.is(error.cause, cause);
  t.is(error.code, 'ERR_STORE_UNAVAILABLE');
  t.is(error.name, 'StoreUnavailableError');
  t.true(error instanceof TaskSemaphoreError);
});

test('StoreUnavailableError hides a postgres password, and accepts a non-Error cause', (t) => {
  const error = new StoreUnavailableError('PostgreSQL', 'postgres://app:hunter2@db:5432/prod', 'timeout');
  t.false(error.message.includes('hunter2'), error.message);
  t.true(error.message.includes('postgres://app:***@db:5432/prod'), error.message);
  t.true(error.message.includes('timeout'), error.message);
  t.is(error.cause, 'timeout');
});

// --- isTaskSemaphoreError, names, codes ------------------------------------------------------------

test('isTaskSemaphoreError recognises every error class, and nothing else', (t) => {
  const errors = [
    new ConfigError('slots[0].slotCls', 'X', 'allowed: MemorySlot'),
    new PollResultError('b', '1', 42),
    new CallTimeoutError('backend "b" poll', 10, { backend: 'b', slotId: '1' }),
    new StoreUnavailableError('Redis', 'redis://h', new Error('down')),
    new SchedulerStateError('closed'),
    new TaskAbortedError('timeout', { taskId: 't' }),
  ];
  for (const error of errors) {
    t.true(isTaskSemaphoreError(error), error.name);
    t.true(error instanceof TaskSemaphoreError);
    t.true(error instanceof Error);
    t.regex(error.code, /^ERR_[A-Z_]+$/);
    t.is(error.name, error.constructor.name);
  }
  for (const other of [
    new Error('x'),
    new TypeError('x'),
    { code: 'ERR_CONFIG', name: 'ConfigError' },
    null,
    undefined,
    'ConfigError',
    42,
  ]) {
    t.false(isTaskSemaphoreError(other));
  }
});

test('isTaskSemaphoreError recognises an error from another copy of the package', (t) => {
  // A second copy has its own classes but the same Symbol.for brand.
  const foreign = Object.assign(new Error('from another copy'), { code: 'ERR_CONFIG', [Symbol.for('task-semaphore.error')]: true });
  t.true(isTaskSemaphoreError(foreign));
  t.false(foreign instanceof TaskSemaphoreError);
});

test('context fields are set where known', (t) => {
  const timeout = new CallTimeoutError('backend "b" startCallback', 30_000, { backend: 'b', slotId: '3', taskId: 't1', token: 7 });
  t.like(timeout, { code: 'ERR_CALL_TIMEOUT', backend: 'b', slotId: '3', taskId: 't1', token: 7 });
  t.true(timeout.message.includes('30000 ms'));
  const poll = new PollResultError('b', '2', 42);
  t.like(poll, { code: 'ERR_POLL_RESULT', backend: 'b', slotId: '2' });
  t.true(poll.message.includes('"b"') && poll.message.includes('42'), poll.message);
  const aborted = new TaskAbortedError('cancel_requested', { taskId: 't2', slotId: '1', token: 4 });
  t.like(aborted, { code: 'ERR_TASK_ABORTED', abortCause: 'cancel_requested', taskId: 't2', token: 4 });
  t.true(aborted.message.includes('cancel requested'), aborted.message);
  t.is(new SchedulerStateError('x').taskId, undefined);
});

// --- toError ---------------------------------------------------------------------------------------

test('toError returns an Error unchanged', (t) => {
  const error = new RangeError('x');
  t.is(toError(error), error);
});

for (const thrown of ['boom', 42, null, undefined, { reason: 'nope' }, Symbol('s')]) {
  test(`toError wraps a thrown ${thrown === null ? 'null' : typeof thrown} with it as cause`, (t) => {
    const error = toError(thrown);
    t.true(error instanceof Error);
    t.is(error.cause, thrown);
    t.true('cause' in error);
    t.true(error.message.startsWith('non-Error thrown'), error.message);
  });
}

test('toError describes the thrown value in the message', (t) => {
  t.true(toError('boom').message.includes('"boom"'));
  t.true(toError({ reason: 'nope' }).message.includes('{"reason":"nope"}'));
});

// Found by test/fuzz/options.test.ts: the value shown in a ConfigError must neither swamp the
// message nor make building the error throw.
test('a ConfigError cuts a long string value short, saying how long it was', (t) => {
  const error = new ConfigError('name', '\u0000'.repeat(5000), 'allowed: letters');
  t.true(error.message.length < 700, `${error.message.length} characters`);
  t.true(error.message.endsWith('…(5000 characters); allowed: letters'), error.message.slice(-60));
  t.is(error.value, '\u0000'.repeat(5000), 'the value itself is kept whole');
  t.is(new ConfigError('name', 'x'.repeat(120), 'allowed: a').message, `name: got "${'x'.repeat(120)}"; allowed: a`);
  // Cut by what is shown: 150 NULs are 900 characters once escaped.
  const nuls = new ConfigError('name', '\u0000'.repeat(150), 'allowed: letters').message;
  t.true(nuls.length < 150, `${nuls.length} characters: ${nuls}`);
  t.true(nuls.endsWith('…(150 characters); allowed: letters'));
});

test('a ConfigError about an object JSON cannot write, even one without a prototype, is built', (t) => {
  const bare = Object.assign(Object.create(null) as object, { minutes: 10n });
  t.is(
    new ConfigError('slots[0].slot_kwargs', bare, 'allowed: an object').message,
    'slots[0].slot_kwargs: got [object Object]; allowed: an object',
  );
  t.is(new ConfigError('x', 10n, 'allowed: a number').message, 'x: got 10n; allowed: a number');
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  t.is(new ConfigError('x', cycle, 'allowed: a tree').message, 'x: got [object Object]; allowed: a tree');
});
