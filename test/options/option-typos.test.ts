/**
 * A typo in any options object is a ConfigError naming the key and the allowed ones, never a
 * silent fallback to a default (a `reddis` option used to leave the scheduler on MemorySlot).
 * Nothing here connects: constructors only check their options.
 */
import test from 'ava';
import { ProcrastinateBackend, ProcrastinateClient, PeriodicDeferrer } from '../../backends/procrastinate/index.js';
import { MemorySlotStore } from '../../slots/memory/index.js';
import { PostgresSlotStore } from '../../slots/postgres/index.js';
import { RedisSlotStore } from '../../slots/redis/index.js';
import { normalizeConfig } from '../../src/scheduler/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';

const redisUrl = 'redis://:secret@127.0.0.1:6379/0';
const postgresUrl = 'postgres://postgres@127.0.0.1:5432/test';
const handler = () => {};

/** One object with one misspelt key: how to build it, the field named, and allowed keys the message must list. */
interface Typo {
  what: string;
  build: () => unknown;
  field: string;
  allowed: string[];
}

const typos: Typo[] = [
  {
    what: 'Scheduler',
    build: () => new Scheduler({ name: 'n', reddis: redisUrl } as never),
    field: 'reddis',
    allowed: ['name', 'redis', 'postgres', 'keyPrefix', 'logger', 'timeout', 'maxLocalTasks', 'owner'],
  },
  {
    what: 'RedisSlotStore',
    build: () => new RedisSlotStore({ name: 'n', redis: redisUrl, keyprefix: 'x' } as never),
    field: 'keyprefix',
    allowed: ['name', 'redis', 'keyPrefix', 'outboxLimit', 'waitReplicas', 'waitTimeoutMs'],
  },
  {
    what: 'PostgresSlotStore',
    build: () => new PostgresSlotStore({ name: 'n', postgres: postgresUrl, shema: 'x' } as never),
    field: 'PostgresSlotStoreOptions.shema',
    allowed: ['name', 'postgres', 'schema', 'outboxLimit'],
  },
  {
    what: 'MemorySlotStore',
    build: () => new MemorySlotStore({ outboxLimt: 5 } as never),
    field: 'MemorySlotStoreOptions.outboxLimt',
    allowed: ['now', 'outboxLimit'],
  },
  {
    what: 'ProcrastinateBackend',
    build: () => new ProcrastinateBackend({ postgres: postgresUrl, queues: ['q'], tasks: { t: handler }, sweepMs: 0 } as never),
    field: 'sweepMs',
    allowed: ['postgres', 'queues', 'tasks', 'sweepInterval', 'staleWorkerTimeout', 'logger'],
  },
  {
    what: 'a ProcrastinateBackend task definition',
    build: () => new ProcrastinateBackend({ postgres: postgresUrl, queues: ['q'], tasks: { 'app.t': { handler, retries: 3 } } } as never),
    field: 'tasks["app.t"].retries',
    allowed: ['handler', 'retry'],
  },
  {
    what: 'ProcrastinateClient',
    build: () => new ProcrastinateClient({ postgres: postgresUrl, pool: {} } as never),
    field: 'ProcrastinateClientOptions.pool',
    allowed: ['postgres'],
  },
  {
    what: 'PeriodicDeferrer',
    build: () => new PeriodicDeferrer({ postgres: postgresUrl, tasks: [], timeZone: 'UTC' } as never),
    field: 'PeriodicDeferrerOptions.timeZone',
    allowed: ['postgres', 'tasks', 'logger', 'maxLateness', 'timezone'],
  },
  {
    what: 'a PeriodicDeferrer task',
    build: () => new PeriodicDeferrer({ postgres: postgresUrl, tasks: [{ taskName: 'app.t', cron: '* * * * *', queu: 'q' }] } as never),
    field: 'PeriodicDeferrerOptions.tasks[0].queu',
    allowed: ['taskName', 'cron', 'queue', 'periodicId'],
  },
  {
    what: 'a slot config entry',
    build: () =>
      normalizeConfig([{ slotId: 1, backends: ['B'], max_runtme: '1m' }], {
        slotCls: 'MemorySlot',
        timeoutMs: 1000,
        slotClasses: ['MemorySlot'],
        backends: ['B'],
      }),
    field: 'slots[0].max_runtme',
    allowed: ['slotId', 'slot_id', 'backends', 'maxRuntime', 'max_runtime', 'slot_kwargs'],
  },
];

for (const typo of typos) {
  test(`a misspelt key of ${typo.what} is a ConfigError naming it and the allowed keys`, (t) => {
    const error = t.throws(typo.build, { instanceOf: ConfigError });
    t.is(error.code, 'ERR_CONFIG');
    t.is(error.field, typo.field);
    const key = typo.field.split(/[.\]]/).pop()!;
    t.true(error.message.includes(`unknown`) && error.message.includes(`\`${key}\``), error.message);
    const listed = /allowed: (.*)$/.exec(error.message)?.[1]?.split(', ') ?? [];
    for (const allowed of typo.allowed) t.true(listed.includes(allowed), `${allowed} missing from: ${error.message}`);
    t.false(error.message.includes('secret'), 'a URL in the message hides its password');
  });
}

test('defer options reject a misspelt key too, naming it as the call wrote it', async (t) => {
  const client = new ProcrastinateClient({ postgres: postgresUrl });
  t.teardown(() => client.close());
  const error = await t.throwsAsync(client.defer('app.t', {}, { queu: 'emails' } as never), { instanceOf: ConfigError });
  t.is(error.field, 'defer(options.queu)');
  t.regex(error.message, /allowed: taskName, args, queue, lock, queueingLock, priority, scheduleAt$/);
});

test('the old Procrastinate option names fail loudly rather than change unit silently', (t) => {
  const base = { postgres: postgresUrl, queues: ['q'], tasks: { t: handler } };
  for (const old of ['shutdownGraceMs', 'heartbeatMs', 'abortPollMs', 'staleWorkerSeconds']) {
    const error = t.throws(() => new ProcrastinateBackend({ ...base, [old]: 1000 } as never), { instanceOf: ConfigError });
    t.is(error.field, old);
  }
  const periodic = t.throws(() => new PeriodicDeferrer({ postgres: postgresUrl, tasks: [], maxDelay: 600 } as never), {
    instanceOf: ConfigError,
  });
  t.is(periodic.field, 'PeriodicDeferrerOptions.maxDelay');
});
