/**
 * `scheduler.history()`, `historySize()` and `purge()` on the three built-in slot kinds, on the real
 * servers: a known sequence of tasks, read back with filters from a process that never loaded a
 * config (as the CLI reads it); bad queries; a task whose process died reported `dropped` once
 * its slot is reaped; and the option `history: false`.
 */
import test from 'ava';
import { ConfigError, SchedulerStateError, TaskIdError } from '../../src/core/errors.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import type { HistoryRecord } from '../../src/contracts/store.js';
import { harness, sleep, ScriptedBackend, slots, waitFor, type SlotKind } from '../../src/testing/scheduler-kit.js';
import { closeSlotKinds, memoryKind, postgresKind, redisKind } from '../helpers/slot-kinds.js';
import { connectRedis } from '../helpers/services.js';

test.after.always(closeSlotKinds);

/** A backend whose tasks run in this process: the store holds them on the process lease. */
class InProcessBackend extends ScriptedBackend {
  override readonly runsInProcess = true;
}

const summary = (records: readonly HistoryRecord[]) => records.map((r) => [r.taskId, r.outcome, r.reason]);

for (const kind of [memoryKind, redisKind, postgresKind] as SlotKind[]) {
  test(`${kind.label}: history lists a known sequence of tasks, filtered, from a process that never loaded a config`, async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['ok', 'bad', 'boom', 'cancel-me', 'stay']);
    backend.onStart = async (taskId, context) => {
      if (taskId === 'ok') await context.stop({ status: 'succeeded' });
      if (taskId === 'bad') await context.stop({ error: new Error('broken') });
      if (taskId === 'boom') throw new Error('no start');
    };
    const scheduler = h.scheduler({ work: backend });
    await scheduler.load(slots(5, ['work']));
    await scheduler.schedule();
    await waitFor(() => backend.stopped.length >= 3, 'three tasks to end');
    await scheduler.cancel('cancel-me');
    await scheduler.stop('cancel-me');

    const admin = h.scheduler({});
    const all = await admin.history();
    t.deepEqual(summary(all.filter((r) => r.outcome === 'running')), [['stay', 'running', null]]);
    t.deepEqual(
      summary(all.filter((r) => r.outcome !== 'running')).sort(),
      [
        ['bad', 'failed', 'stopped'],
        ['boom', 'failed', 'start_failed'],
        ['cancel-me', 'cancelled', 'cancelled'],
        ['ok', 'succeeded', 'stopped'],
      ],
      'one record per task, with its outcome',
    );
    for (const record of all) t.is(record.owner, scheduler.owner, `${record.taskId} holder`);
    t.is(all.find((r) => r.taskId === 'bad')?.error, 'broken');

    const ids = async (query: Parameters<typeof admin.history>[0]) => (await admin.history(query)).map((r) => r.taskId).sort();
    t.deepEqual(await ids({ outcome: ['failed', 'cancelled'] }), ['bad', 'boom', 'cancel-me']);
    t.deepEqual(await ids({ outcome: 'failed', reason: 'start_failed' }), ['boom'], 'fields ANDed');
    t.deepEqual(await ids({ taskId: 'stay' }), ['stay'], 'a task running now');
    t.deepEqual(await ids({ backend: 'work', owner: [scheduler.owner, 'nobody'], status: 'succeeded' }), ['ok']);
    t.deepEqual(await ids({ owner: [] }), [], 'an empty list matches nothing');
    t.deepEqual(await ids({ endedBefore: new Date(0) }), []);
    t.is((await admin.history({ limit: 2 })).length, 2);
    t.deepEqual(await scheduler.history({ taskId: ['ok', 'stay'] }), await admin.history({ taskId: ['ok', 'stay'] }), 'the same from both');
    t.deepEqual(await admin.historySize(), [{ slotClass: kind.label, records: 4 }], 'four records kept; the running task is none');
    t.deepEqual(await scheduler.historySize({ limit: 3 }), [{ slotClass: kind.label, records: 3 }], 'counted no further than the limit');

    // The loaded scheduler would purge its own state: refused. The admin one refuses while a task runs.
    await t.throwsAsync(scheduler.purge({ force: true }), { instanceOf: SchedulerStateError, message: /loaded a config/ });
    const refused = await admin.purge();
    t.like(refused, { purged: false });
    t.deepEqual(refused.purged ? [] : refused.running.map((r) => r.taskId), ['stay']);
    await scheduler.stop('stay');
    await scheduler.close();
    t.like(await admin.purge(), { purged: true, slots: 5, dropped: [] });
    t.deepEqual(await admin.history(), []);
    t.deepEqual(await admin.historySize(), [{ slotClass: kind.label, records: 0 }]);
  });

  test(`${kind.label}: a task whose process died is reported dropped once a pass reaps its slot`, async (t) => {
    const h = await harness(t, kind);
    const backend = new InProcessBackend(['orphan']);
    const dying = h.scheduler({ work: backend }, { processLease: '200ms' });
    await dying.load(slots(1, ['work']));
    await dying.schedule();
    await waitFor(() => backend.started.length === 1, 'the task to start');
    t.like(await dying.history({ taskId: 'orphan' }), [{ outcome: 'running' }]);
    // It stops renewing the lease, as a process that died would; the task stays in the store.
    await dying.close();
    await sleep(600);
    const survivor = h.scheduler({ work: new InProcessBackend() });
    await survivor.load(slots(1, ['work']));
    await survivor.schedule();
    t.like(await survivor.history({ taskId: 'orphan' }), [{ outcome: 'dropped', reason: 'timeout', keepalives: 0 }]);
  });

  test(`${kind.label}: bad queries and purge options are ConfigErrors naming the field`, async (t) => {
    const h = await harness(t, kind);
    const admin = h.scheduler({});
    const cases: [unknown, RegExp][] = [
      [{ outcome: ['succeeded', 'nope'] }, /^history\(query\.outcome\[1\]\): got "nope"; allowed: "running", "succeeded"/],
      [{ outcome: 'nope' }, /^history\(query\.outcome\): got "nope"/],
      [{ reason: ['lost', 3] }, /^history\(query\.reason\[1\]\): got 3; allowed: "stopped"/],
      [{ limit: 0 }, /^history\(query\.limit\): got 0; allowed: an integer from 1 to 10000/],
      [{ limit: 10_001 }, /^history\(query\.limit\): got 10001/],
      [{ startedAfter: 'yesterday' }, /^history\(query\.startedAfter\): got "yesterday"; allowed: a Date, or milliseconds/],
      [{ endedBefore: new Date(Number.NaN) }, /^history\(query\.endedBefore\)/],
      [{ statuz: 'failed' }, /^history\(query\.statuz\): .*unknown field `statuz`; allowed: taskId, outcome/],
      ['ok', /^history\(query\): got "ok"; allowed: an object of filters/],
    ];
    for (const [query, message] of cases) {
      await t.throwsAsync(admin.history(query as never), { instanceOf: ConfigError, message }, JSON.stringify(query));
    }
    const badId = await t.throwsAsync(admin.history({ taskId: ['fine', 'a\u0000b'] }), { instanceOf: TaskIdError });
    t.is(badId?.field, 'history(query.taskId[1])');
    await t.throwsAsync(admin.historySize({ limit: 0 }), {
      instanceOf: ConfigError,
      message: /^historySize\(options\.limit\): got 0; allowed: a positive integer/,
    });
    await t.throwsAsync(admin.historySize({ limits: 5 } as never), { instanceOf: ConfigError, message: /^historySize\(options\.limits\)/ });
    await t.throwsAsync(admin.purge({ forse: true } as never), { instanceOf: ConfigError, message: /^purge\(options\.forse\)/ });
    await t.throwsAsync(admin.purge({ force: 'yes' } as never), {
      instanceOf: ConfigError,
      message: /^purge\(options\.force\): got "yes"/,
    });
  });
}

test('history: false writes no record, and history() says the history is off', async (t) => {
  // On Redis, where the stream shows whether anything was written.
  const h = await harness(t, redisKind);
  const backend = new ScriptedBackend(['one', 'two']);
  backend.onStart = (_taskId, context) => void context.stop({ status: 'succeeded' });
  const scheduler = h.scheduler({ work: backend }, { history: false });
  await scheduler.load(slots(2, ['work']));
  await scheduler.schedule();
  await waitFor(() => backend.stopped.length === 2, 'both tasks to end');
  await t.throwsAsync(scheduler.history(), { instanceOf: SchedulerStateError, message: /keeps no history: its option `history` is false/ });
  const redis = await connectRedis();
  t.teardown(() => redis.quit().then(() => undefined));
  const keyPrefix = (h.setup.options as { keyPrefix: string }).keyPrefix;
  t.is(await redis.exists(`{${keyPrefix}:${h.name}}:history`), 0, 'no history stream');
  t.true((await redis.exists(`{${keyPrefix}:${h.name}}:slots`)) === 1, 'while the slots are there');
  // The same name with the history on reads nothing: none was written.
  t.deepEqual(await h.scheduler({}).history(), []);
});

test('the option history is validated', (t) => {
  const bad: [unknown, RegExp][] = [
    [{ maxEntries: 0 }, /^history\.maxEntries: got 0; allowed: a positive integer/],
    [{ retention: 'soon' }, /^history\.retention: got "soon"/],
    [{ maxEntrys: 5 }, /^history\.maxEntrys: .*unknown option `maxEntrys`/],
    [true, /^history: got true; allowed: false, or an object/],
  ];
  for (const [history, message] of bad) {
    t.throws(
      () => new Scheduler({ name: 'probe', history: history as never }),
      { instanceOf: ConfigError, message },
      JSON.stringify(history),
    );
  }
});
