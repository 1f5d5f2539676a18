/**
 * `acquire()` and `run()`: a task the caller already holds takes a slot in one round trip, or
 * waits first come first served across schedulers, woken by the store; `run()` keeps its slot
 * alive while its function runs and stops it with the function's outcome. On every store kind.
 */
import test, { type ExecutionContext } from 'ava';
import { ScriptedBackend, harness, sleep, slots, waitFor, type SlotKind } from '../../src/testing/scheduler-kit.js';
import { ConfigError, SchedulerStateError, TaskNotAcquiredError } from '../../src/core/errors.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import type { StoreCall } from '../../src/scheduler/timed-store.js';
import { builtInSlotKinds, closeSlotKinds } from '../helpers/slot-kinds.js';

test.after.always(closeSlotKinds);

/** Slots only acquire() fills: no backend polls them. */
const acquireOnly = (count: number, extra: Record<string, unknown> = {}) => slots(count, [], extra);

/** Schedulers of the test's name, each loaded with `config`. */
async function schedulers(t: ExecutionContext, kind: SlotKind, count: number, config: object[], options = {}): Promise<Scheduler[]> {
  const h = await harness(t, kind);
  const made = Array.from({ length: count }, () => h.scheduler({}, options));
  for (const scheduler of made) await scheduler.load(config as never);
  return made;
}

/** The store methods a scheduler called while `work` ran. */
async function callsDuring(scheduler: Scheduler, work: () => Promise<unknown>): Promise<string[]> {
  const calls: string[] = [];
  const listener = (call: StoreCall) => calls.push(call.method);
  scheduler.on('store:call', listener);
  try {
    await work();
  } finally {
    scheduler.off('store:call', listener);
  }
  return calls;
}

for (const kind of builtInSlotKinds) {
  const title = (what: string) => `${kind.label}: ${what}`;

  test(title('acquire takes a free slot in one round trip, and stop frees it in one'), async (t) => {
    const [scheduler] = await schedulers(t, kind, 1, acquireOnly(2, { timeout: '30s' }));
    let acquired: Awaited<ReturnType<Scheduler['acquire']>> | undefined;
    t.deepEqual(await callsDuring(scheduler!, async () => (acquired = await scheduler!.acquire('task-1'))), ['acquire']);
    t.like(acquired, { ok: true, taskId: 'task-1', slotId: '1', backend: '@acquire', owner: scheduler!.owner, timeoutMs: 30_000 });
    t.like(await scheduler!.keepalive('task-1'), { ok: true, slotId: '1' });
    t.like(await scheduler!.acquire('task-1'), { ok: false, reason: 'duplicate', slotId: '1' });
    t.like(await scheduler!.acquire('task-2', { slots: [2, 1] }), { ok: true, slotId: '2' });
    t.like(await scheduler!.acquire('task-3', { wait: false }), { ok: false, reason: 'busy', taskId: 'task-3' });
    const stopCalls = await callsDuring(scheduler!, () => scheduler!.stop('task-1', { status: 'succeeded' }));
    t.is(stopCalls.length, 1, `one round trip: ${stopCalls.join(', ')}`);
    t.regex(stopCalls[0]!, /^end(Many)?$/);
    t.like(await scheduler!.acquire('task-3', { wait: false }), { ok: true, slotId: '1' });
    const [record] = await scheduler!.history({ taskId: 'task-1' });
    t.like(record, { taskId: 'task-1', backend: '@acquire', outcome: 'succeeded' });
  });

  test(title('waiters across schedulers get slots first come, first served, woken by the store'), async (t) => {
    // The renewal (a third of the process lease) comes after 20 s: only the store's event can wake them sooner.
    const fleet = await schedulers(t, kind, 3, acquireOnly(1), { processLease: '60s' });
    const [a, b, c] = fleet as [Scheduler, Scheduler, Scheduler];
    t.like(await a.acquire('holder'), { ok: true });
    const order: string[] = [];
    const waits = [
      [b, 'first'],
      [c, 'second'],
      [a, 'third'],
      [b, 'fourth'],
    ].map(([scheduler, taskId], i) =>
      (async () => {
        await sleep(250 * i); // arrival order
        const got = await (scheduler as Scheduler).acquire(taskId as string);
        t.true(got.ok, `${taskId as string}: ${JSON.stringify(got)}`);
        order.push(taskId as string);
        await sleep(50);
        await (scheduler as Scheduler).stop(taskId as string);
      })(),
    );
    await sleep(1_000);
    t.deepEqual(order, [], 'all wait while the holder runs');
    const began = Date.now();
    await a.stop('holder');
    await Promise.all(waits);
    t.deepEqual(order, ['first', 'second', 'third', 'fourth']);
    t.true(Date.now() - began < 10_000, 'woken by grants, not by the 20 s renewal');
  });

  test(title('a wait that runs out answers busy and leaves the queue'), async (t) => {
    const [a, b] = (await schedulers(t, kind, 2, acquireOnly(1))) as [Scheduler, Scheduler];
    t.like(await a.acquire('holder'), { ok: true });
    t.like(await b.acquire('impatient', { wait: 200 }), { ok: false, reason: 'busy' });
    await a.stop('holder');
    await sleep(100);
    const [slot] = await a.inspect();
    t.like(slot, { status: 'idle' }, 'no grant to a caller that gave up');
  });

  test(title('an aborted wait rejects with the signal reason; closing rejects the waits left'), async (t) => {
    const [a, b] = (await schedulers(t, kind, 2, acquireOnly(1))) as [Scheduler, Scheduler];
    t.like(await a.acquire('holder'), { ok: true });
    const controller = new AbortController();
    const aborted = b.acquire('aborted', { signal: controller.signal });
    const closed = b.acquire('closed');
    await sleep(100);
    controller.abort(new Error('the caller gave up'));
    await t.throwsAsync(aborted, { message: 'the caller gave up' });
    await b.close();
    await t.throwsAsync(closed, { instanceOf: SchedulerStateError });
    await a.stop('holder');
    await sleep(100);
    t.like((await a.inspect())[0], { status: 'idle' }, 'neither wait was granted the slot');
  });

  test(title('run keeps the slot alive past its timeout, stops with the outcome and returns it'), async (t) => {
    const [a] = (await schedulers(t, kind, 1, acquireOnly(1, { timeout: '1s' }), { processLease: '1s' })) as [Scheduler];
    const value = await a.run('long', async (context) => {
      t.like(context, { taskId: 'long', slotId: '1' });
      await sleep(2_000);
      t.false(context.signal.aborted);
      return 42;
    });
    t.is(value, 42);
    await t.throwsAsync(
      a.run('broken', () => {
        throw new Error('boom');
      }),
      { message: 'boom' },
    );
    const records = await a.history({ taskId: ['long', 'broken'] });
    t.deepEqual(records.map((r) => [r.taskId, r.outcome, r.error]).sort(), [
      ['broken', 'failed', 'boom'],
      ['long', 'succeeded', null],
    ]);
    t.like((await a.inspect())[0], { status: 'idle' });
  });

  test(title('run waits its turn, and a cancel from another scheduler fires its signal'), async (t) => {
    const [a, b] = (await schedulers(t, kind, 2, acquireOnly(1))) as [Scheduler, Scheduler];
    const first = a.run(
      'first',
      (context) => new Promise<string>((resolve) => context.signal.addEventListener('abort', () => resolve('cancelled'))),
    );
    await waitFor(async () => (await b.inspect())[0]!.status === 'running', 'first to run');
    const second = b.run('second', () => 'ran');
    await sleep(100);
    t.like(await b.cancel('first'), { ok: true });
    t.is(await first, 'cancelled');
    t.is(await second, 'ran');
    t.like((await a.history({ taskId: 'first' }))[0], { reason: 'cancelled' });
  });

  test(title('slots with no backend are never reserved by passes; acquire and polls share the others'), async (t) => {
    const h = await harness(t, kind);
    const work = new ScriptedBackend(['polled-1']);
    const scheduler = h.scheduler({ work });
    await scheduler.load([
      { slotId: 1, backends: [] },
      { slotId: 2, backends: ['work'] },
    ]);
    await scheduler.schedule();
    const [one, two] = await scheduler.inspect();
    t.like(one, { status: 'idle' });
    t.like(two, { status: 'running', occupancy: { taskId: 'polled-1' } });
    t.like(await scheduler.acquire('pushed', { wait: false }), { ok: true, slotId: '1' });
    await scheduler.schedule();
    t.like(
      (await scheduler.inspect())[0],
      { status: 'running', occupancy: { taskId: 'pushed', backend: '@acquire' } },
      'not ended as a removed backend',
    );
  });
}

test('acquire names what is wrong with its arguments', async (t) => {
  const [scheduler] = await schedulers(t, builtInSlotKinds[0]!, 1, acquireOnly(2));
  await t.throwsAsync(scheduler!.acquire('t', { slots: [3] }), {
    instanceOf: ConfigError,
    message: /acquire\(options\.slots\[0\]\): got 3/,
  });
  await t.throwsAsync(scheduler!.acquire('t', { slots: [] }), { instanceOf: ConfigError, message: /non-empty array/ });
  await t.throwsAsync(scheduler!.acquire('t', { wait: -1 }), { instanceOf: ConfigError, message: /acquire\(options\.wait\): got -1/ });
  await t.throwsAsync(scheduler!.acquire('t', { slot: 1 } as never), {
    instanceOf: ConfigError,
    message: /acquire\(options\.slot\).*unknown option/,
  });
  await t.throwsAsync(scheduler!.acquire(''), { code: 'ERR_TASK_ID' });
  await t.throwsAsync(scheduler!.run('t', 'not a function' as never), { instanceOf: ConfigError, message: /run\(fn\)/ });
  t.throws(() => scheduler!.registerBackend('@acquire', new ScriptedBackend()), { instanceOf: ConfigError, message: /reserved/ });
});

test('run throws TaskNotAcquiredError when it takes no slot', async (t) => {
  const [scheduler] = await schedulers(t, builtInSlotKinds[0]!, 1, acquireOnly(1));
  t.like(await scheduler!.acquire('holder'), { ok: true });
  const busy = await t.throwsAsync(
    scheduler!.run('late', () => 'never', { wait: false }),
    { instanceOf: TaskNotAcquiredError },
  );
  t.is(busy?.reason, 'busy');
  const duplicate = await t.throwsAsync(
    scheduler!.run('holder', () => 'never'),
    { instanceOf: TaskNotAcquiredError },
  );
  t.like(duplicate, { reason: 'duplicate', slotId: '1', code: 'ERR_NOT_ACQUIRED' });
});
