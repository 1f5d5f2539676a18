/**
 * The scheduler conformance suite: the semantics every slot kind must give a Scheduler. It runs
 * on MemorySlot, RedisSlot and PostgresSlot in this repository, and users run it on their own
 * slot classes:
 *
 * ```ts
 * import test from 'ava';
 * import { schedulerConformanceSuite } from 'task-semaphore/testing';
 * schedulerConformanceSuite(test, { label: 'MySlot', setup: async () => ({ ... }) });
 * ```
 */
import type { TestFn } from 'ava';
import type { Scheduler } from '../scheduler/scheduler.js';
import { PollResultError, CallTimeoutError, TaskAbortedError } from '../core/errors.js';
import type { PassReport } from '../contracts/results.js';
import { ClaimingBackend, ScriptedBackend, harness, sleep, slots, waitFor, type SlotKind } from './scheduler-kit.js';
import { registerSchedulerIdCases } from './scheduler-suite-ids.js';

export * from './scheduler-kit.js';

/** [slotId, taskId] pairs sorted by slot: starts of one pass may complete in any order. */
const bySlot = (started: Array<{ slotId: string; taskId: string }>) =>
  started.map((x) => [x.slotId, x.taskId]).sort(([a], [b]) => a!.localeCompare(b!, 'en', { numeric: true }));

export function schedulerConformanceSuite(test: TestFn, kind: SlotKind): void {
  const title = (what: string) => `${kind.label}: ${what}`;

  test(title('fills idle slots from their backends in order, and each slot holds one task'), async (t) => {
    const h = await harness(t, kind);
    const a = new ScriptedBackend(['a1']);
    const b = new ScriptedBackend(['b1', 'b2', 'b3']);
    const s = h.scheduler({ A: a, B: b });
    await s.load(slots(3, ['A', 'B']));
    const report = await s.schedule();
    t.is(report.started, 3);
    t.deepEqual(bySlot(a.started), [['1', 'a1']]);
    t.deepEqual(bySlot(b.started), [
      ['2', 'b1'],
      ['3', 'b2'],
    ]);
    const state = await s.inspect();
    t.deepEqual(
      state.map((x) => [x.slotId, x.status, x.occupancy?.taskId]),
      [
        ['1', 'running', 'a1'],
        ['2', 'running', 'b1'],
        ['3', 'running', 'b2'],
      ],
    );
    // Tokens are distinct per occupancy and handed to startCallback.
    t.is(new Set([...a.started, ...b.started].map((x) => x.token)).size, 3);
  });

  test(title('accepts the Python original config shape unchanged'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['x']);
    const s = h.scheduler({ MyBackend: backend });
    await s.load([{ backends: ['MyBackend'], slot_cls: h.setup.slotCls, slot_id: 1, slot_kwargs: { timeout_after: 60 } }]);
    await s.schedule();
    const [slot] = await s.inspect();
    const occupancy = slot?.occupancy;
    if (!occupancy) return t.fail('the slot is not running its task');
    t.is(occupancy.timeoutMs, 3_600_000);
    t.is(occupancy.deadline - occupancy.lastKeepaliveAt, 3_600_000);
  });

  test(title('a backend whose poll found nothing is polled once per pass, and idle slots are released'), async (t) => {
    const h = await harness(t, kind);
    const empty = new ScriptedBackend();
    const s = h.scheduler({ Empty: empty });
    await s.load(slots(20, ['Empty']));
    const report = await s.schedule();
    t.is(empty.polls, 1);
    t.is(report.released, 20);
    t.true((await s.inspect()).every((x) => x.status === 'idle'));
  });

  test(title('overlapping schedule() calls coalesce into at most one more pass'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend();
    const s = h.scheduler({ A: backend });
    await s.load(slots(2, ['A']));
    let passes = 0;
    s.on('pass:end', () => passes++);
    await Promise.all(Array.from({ length: 10 }, () => s.schedule()));
    t.true(passes >= 1 && passes <= 2, `passes: ${passes}`);
  });

  test(title('keepalive renews the deadline by the store clock; stop frees the slot and it refills at once'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['t1', 't2']);
    const s = h.scheduler({ A: backend }, { timeout: '10s' });
    await s.load(slots(1, ['A']));
    await s.schedule();
    const first = await s.inspect();
    await sleep(30);
    const renewed = await s.keepalive('t1');
    if (!renewed.ok) return t.fail(`keepalive failed: ${renewed.reason}`);
    t.is(renewed.deadline - renewed.lastKeepaliveAt, 10_000);
    t.true(renewed.deadline > first[0]!.occupancy!.deadline);
    t.deepEqual(backend.keepalives, ['t1']);

    const stopped = await s.stop('t1', { status: 'succeeded' });
    t.true(stopped.ok);
    t.like(backend.stopsOf('t1'), [{ reason: 'stopped', status: 'succeeded' }]);
    // Work-conserving: no schedule() call, yet t2 starts in the freed slot.
    await waitFor(() => backend.started.length === 2, 't2 to start');
    t.is(backend.started[1]!.taskId, 't2');
  });

  test(title('unknown, ended and timed-out task ids get typed answers'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['t1']);
    const s = h.scheduler({ A: backend }, { timeout: '300ms' });
    await s.load(slots(1, ['A']));
    t.like(await s.keepalive('nope'), { ok: false, reason: 'unknown' });
    t.like(await s.stop('nope'), { ok: false, reason: 'unknown' });
    t.like(await s.cancel('nope'), { ok: false, reason: 'unknown' });

    await s.schedule();
    const token = backend.started[0]!.token;
    t.deepEqual(
      await s.keepalive('t1', { token: token + 1000 }),
      { ok: false, taskId: 't1', reason: 'unknown' },
      'a token t1 never ran under',
    );
    await sleep(600);
    t.like(await s.keepalive('t1'), { ok: false, reason: 'timed_out', endReason: 'timeout' });
    await s.schedule();
    t.like(await s.stop('t1'), { ok: false, reason: 'timed_out', endReason: 'timeout' });

    backend.queue.push('t2');
    await s.schedule();
    await s.stop('t2');
    t.like(await s.keepalive('t2'), { ok: false, reason: 'ended', endReason: 'stopped' });
  });

  test(title('a timeout calls timeoutCallback then stopCallback once, and fires the local AbortSignal'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['t1']);
    const s = h.scheduler({ A: backend }, { timeout: '200ms' });
    // Two more schedulers race to reap the same slot.
    const others = [h.scheduler({ A: backend }, { timeout: '200ms' }), h.scheduler({ A: backend }, { timeout: '200ms' })];
    for (const x of [s, ...others]) await x.load(slots(1, ['A']));
    await s.schedule();
    const signal = backend.contexts.get('t1')!.signal;
    await sleep(400);
    await Promise.all([s, ...others].map((x) => x.schedule()));
    t.is(backend.timedOut.length, 1);
    t.is(backend.timedOut[0]!.info.reason, 'timeout');
    t.like(backend.stopsOf('t1'), [{ reason: 'timeout' }]);
    // The reaping scheduler may be another instance; the signal fires at the owner's next pass at the latest.
    await s.schedule();
    t.true(signal.aborted);
    t.true(signal.reason instanceof TaskAbortedError);
  });

  test(title('maxRuntime ends a task that keeps alive, with reason max_runtime'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['t1']);
    const s = h.scheduler({ A: backend }, { timeout: '10s' });
    await s.load(slots(1, ['A'], { maxRuntime: '1s' }));
    await s.schedule();
    // Keep the task alive until the store refuses: only the runtime cap can end it.
    let renewals = 0;
    let refusal: Awaited<ReturnType<Scheduler['keepalive']>> | undefined;
    while (!refusal) {
      const answer = await s.keepalive('t1');
      if (answer.ok) renewals++;
      else refusal = answer;
      await sleep(50);
    }
    t.true(renewals >= 2, `renewed ${renewals} times before the cap`);
    t.like(refusal, { ok: false, reason: 'timed_out', endReason: 'max_runtime' });
    await s.schedule();
    t.is(backend.timedOut[0]?.info.reason, 'max_runtime');
    const [ended] = backend.stopsOf('t1');
    t.like(ended, { reason: 'max_runtime' });
    t.true(ended!.endedAt - ended!.startedAt >= 1000);
  });

  test(title('a late stop with an old token never frees the next occupant'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['t1']);
    // Long enough that a loaded machine starts the task within it (a start past it is not launched).
    const s = h.scheduler({ A: backend }, { timeout: '600ms' });
    await s.load(slots(1, ['A']));
    await s.schedule();
    const oldToken = backend.started[0]!.token;
    await sleep(1_000);
    backend.queue.push('t1'); // the same task id comes back and starts again
    await s.schedule();
    await waitFor(() => backend.started.length === 2, 't1 to restart');
    t.like(await s.stop('t1', { token: oldToken }), { ok: false, reason: 'timed_out', endReason: 'timeout', token: oldToken });
    const newToken = backend.started[1]!.token;
    t.true(newToken > oldToken);
    t.like(backend.stopped.find((x) => x.outcome.token === oldToken)?.outcome, { reason: 'timeout' });
    // The late stop ended nothing: the new occupancy runs on (or, on a slow machine, times out by itself).
    t.false(backend.stopped.some((x) => x.outcome.token === newToken && x.outcome.reason === 'stopped'));
  });

  test(title('a startCallback that throws or rejects frees the slot with start_failed'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['sync', 'async', 'ok']);
    backend.onStart = async (taskId) => {
      if (taskId === 'sync') throw new Error('boom');
      if (taskId === 'async') return Promise.reject(new Error('later boom'));
    };
    const s = h.scheduler({ A: backend });
    await s.load(slots(1, ['A']));
    // A failed start frees the slot for the next tick (a pass each), not at once.
    for (let pass = 1; pass <= 3; pass++) {
      await s.schedule();
      t.is(backend.started.length, pass);
    }
    t.like(backend.stopsOf('sync'), [{ reason: 'start_failed', error: 'boom' }]);
    t.like(backend.stopsOf('async'), [{ reason: 'start_failed', error: 'later boom' }]);
    t.is((await s.inspect())[0]?.occupancy?.taskId, 'ok');
  });

  test(title('a task that keeps failing to start is not retried in a tight loop'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend();
    backend.onPoll = () => 'poison'; // a source that never marks the task taken
    backend.onStart = () => {
      throw new Error('cannot start');
    };
    const s = h.scheduler({ A: backend });
    await s.load(slots(3, ['A']));
    await s.schedule();
    await sleep(300);
    // Once per pass at most: the failed start frees its slot for the next tick, not at once.
    t.is(backend.started.length, 1);
    t.like(backend.stopsOf('poison'), [{ reason: 'start_failed' }]);
  });

  test(title('a stop() from inside startCallback works and refills the slot'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['a', 'b', 'c']);
    backend.onStart = async (_taskId, context) => {
      await context.stop({ status: 'succeeded' });
    };
    const s = h.scheduler({ A: backend });
    await s.load(slots(1, ['A']));
    await s.schedule();
    await waitFor(() => backend.stopped.length === 3, 'three stops');
    t.deepEqual(
      backend.stopped.map((x) => x.outcome.reason),
      ['stopped', 'stopped', 'stopped'],
    );
  });

  test(title('a poll that throws, hangs or returns a non-string is isolated; the pass goes on'), async (t) => {
    const h = await harness(t, kind);
    const throwing = new ScriptedBackend();
    throwing.onPoll = () => {
      throw new Error('poll exploded');
    };
    const hanging = new ScriptedBackend();
    hanging.onPoll = () => new Promise(() => {});
    const numeric = new ScriptedBackend();
    numeric.onPoll = () => 42;
    const good = new ScriptedBackend(['g1', 'g2']);
    const s = h.scheduler({ Throwing: throwing, Hanging: hanging, Numeric: numeric, Good: good }, { pollTimeout: '100ms' });
    const errors: Error[] = [];
    s.on('poll:error', ({ error }) => errors.push(error));
    await s.load(slots(2, ['Throwing', 'Hanging', 'Numeric', 'Good']));
    await s.schedule();
    // Polls go in slot order; the starts themselves may complete in any order.
    t.deepEqual(bySlot(good.started), [
      ['1', 'g1'],
      ['2', 'g2'],
    ]);
    t.is(errors.length, 3);
    t.true(errors.some((e) => e.message === 'poll exploded' && typeof e.stack === 'string'));
    t.true(errors.some((e) => e instanceof CallTimeoutError));
    t.true(errors.some((e) => e instanceof PollResultError));
    // Each failing backend was called once in the pass, not once per slot.
    t.deepEqual([throwing.polls, hanging.polls, numeric.polls], [1, 1, 1]);
  });

  test(title('callbacks and listeners that throw never kill the scheduler'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['t1', 't2']);
    backend.throwIn = { stopCallback: true, timeoutCallback: true };
    // A timeout long enough that, on a loaded machine, t2's start never comes back within the
    // margin of its deadline (it would be handed back as `lapsed`, by design).
    const s = h.scheduler({ A: backend }, { timeout: '1s' });
    s.on('task:start', () => {
      throw new Error('listener exploded');
    });
    const callbackErrors: string[] = [];
    s.on('callback:error', ({ callback }) => callbackErrors.push(callback));
    await s.load(slots(1, ['A']));
    await s.schedule();
    await sleep(1200);
    await s.schedule(); // reaps t1 (timeout + stop callbacks throw); the freed slot then takes t2
    t.true(callbackErrors.includes('timeoutCallback') && callbackErrors.includes('stopCallback'));
    await waitFor(() => backend.started.length === 2, 't2 to start');
    t.is(backend.started[1]!.taskId, 't2');
  });

  test(title('cancel: keepalive reports it, the local AbortSignal fires, and the stop ends as cancelled'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['t1']);
    const s = h.scheduler({ A: backend });
    await s.load(slots(1, ['A']));
    await s.schedule();
    const signal = backend.contexts.get('t1')!.signal;
    t.like(await s.cancel('t1'), { ok: true, alreadyRequested: false });
    t.true(signal.aborted);
    t.is((signal.reason as TaskAbortedError).abortCause, 'cancel_requested');
    t.like(await s.cancel('t1'), { ok: true, alreadyRequested: true });
    t.like(await s.keepalive('t1'), { ok: true, cancelRequested: true });
    await s.stop('t1');
    t.like(backend.stopsOf('t1'), [{ reason: 'cancelled' }]);
  });

  test(title('keepalive, cancel and stop work from another scheduler instance with no config'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['t1', 't2']);
    const worker = h.scheduler({ A: backend });
    await worker.load(slots(1, ['A']));
    await worker.schedule();
    const signal = backend.contexts.get('t1')!.signal;

    const client = h.scheduler({}); // another process, in effect: no backends, no load()
    t.like(await client.keepalive('t1'), { ok: true, slotId: '1' });
    t.like(await client.cancel('t1'), { ok: true });
    await worker.schedule(); // the worker learns of the cancel at its next pass
    t.true(signal.aborted);
    const stopped = await client.stop('t1', { status: 'succeeded' });
    t.like(stopped, { ok: true, delivered: false, reason: 'cancelled' });
    // The worker, which has the backend, delivers stopCallback exactly once and refills the slot.
    await worker.schedule();
    await worker.schedule();
    await waitFor(() => backend.started.length === 2, 't2 to start');
    t.like(backend.stopsOf('t1'), [{ reason: 'cancelled', status: 'succeeded' }]);
    t.is(backend.stopped.length, 1);
    t.is(backend.started.at(-1)?.taskId, 't2');
  });

  test(title('a cancel requested and a slot freed by another process reach the worker at once, without a pass'), async (t) => {
    const h = await harness(t, kind);
    const probe = await h.setup.createStore(h.name);
    t.teardown(() => probe.close());
    const publishes = typeof probe.subscribe === 'function';
    const backend = new ScriptedBackend(['t1', 't2']);
    const worker = h.scheduler({ A: backend });
    await worker.load(slots(1, ['A']));
    await worker.schedule();
    const signal = backend.contexts.get('t1')!.signal;
    const client = h.scheduler({});
    // A store without events (subscribe is optional) is caught up by the worker's next pass.
    const catchUp = async () => void (publishes || (await worker.schedule()));

    t.like(await client.cancel('t1'), { ok: true });
    await catchUp();
    await waitFor(() => signal.aborted, 'the worker to see the cancel');
    t.like(await client.stop('t1', { status: 'cancelled' }), { ok: true, delivered: false });
    await catchUp();
    await waitFor(() => backend.started.length === 2, 'the freed slot to refill');
    await waitFor(() => backend.stopped.length === 1, 'stopCallback of t1');
    t.like(backend.stopsOf('t1'), [{ reason: 'cancelled' }]);
    t.is(backend.started[1]!.taskId, 't2');
  });

  test(title('a local stop keeps its slot and refills it without a pass; with nothing to run the slot goes idle'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['t1', 't2', 't3']);
    const s = h.scheduler({ A: backend });
    await s.load(slots(2, ['A']));
    await s.schedule();
    let passes = 0;
    const refills: PassReport[] = [];
    s.on('pass:end', () => passes++);
    s.on('refill:end', (report) => refills.push(report));
    const slotOfT1 = backend.started.find((x) => x.taskId === 't1')!.slotId;
    t.true((await s.stop('t1')).ok);
    await waitFor(() => backend.started.length === 3, 't3 to start');
    t.like(backend.started[2], { taskId: 't3', slotId: slotOfT1 });
    t.true(backend.started[2]!.token > backend.started[0]!.token, 'a fresh token for the new occupancy');
    // Nothing left: the kept slot is released after one more poll.
    const polls = backend.polls;
    t.true((await s.stop('t2')).ok);
    const slotOfT2 = backend.started.find((x) => x.taskId === 't2')!.slotId;
    // The round's report comes after its release: wait for the report, then look at the slot.
    await waitFor(() => refills.length === 2, 'the refill round after t2 to end');
    t.is((await s.inspect()).find((x) => x.slotId === slotOfT2)?.status, 'idle', 'the slot of t2 went idle');
    t.is(backend.polls, polls + 1);
    t.is(passes, 0, 'no pass ran');
    t.like(refills[0], { started: 1, released: 0, polls: 1 });
    t.like(refills.at(-1), { started: 0, released: 1 });
    // The slot is free for the next pass.
    backend.queue.push('t4');
    await s.schedule();
    t.like(backend.started[3], { taskId: 't4', slotId: slotOfT2 });
  });

  test(title('a backend removed from the config ends its task with backend_removed; a removed slot drains'), async (t) => {
    const h = await harness(t, kind);
    const a = new ScriptedBackend(['a1']);
    const b = new ScriptedBackend(['b1', 'b2', 'b3']);
    const s = h.scheduler({ A: a, B: b });
    await s.load([
      { slotId: 1, backends: ['A'] },
      { slotId: 2, backends: ['B'] },
    ]);
    await s.schedule();
    const signal = a.contexts.get('a1')!.signal;
    // New config: slot 1 serves only B; slot 2 is gone.
    await s.load([{ slotId: 1, backends: ['B'] }]);
    await s.schedule();
    t.like(a.stopsOf('a1'), [{ reason: 'backend_removed' }]);
    t.is((signal.reason as TaskAbortedError).abortCause, 'backend_removed');
    await waitFor(() => b.started.length === 2, 'slot 1 to take B work');
    // b1 still runs in removed slot 2; once it stops, slot 2 is not refilled.
    t.true((await s.stop('b1')).ok);
    await s.schedule();
    const state = await s.inspect();
    const slot2 = state.find((x) => x.slotId === '2');
    t.like(slot2, { status: 'idle', configured: false });
    t.is(b.started.filter((x) => x.slotId === '2').length, 1);
  });

  test(title('a crash between reserve and start over-reserves until the reservation lapses, then the slot refills'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['t1']);
    const s = h.scheduler({ A: backend });
    await s.load(slots(1, ['A']));
    const crashed = await h.setup.createStore(h.name);
    t.teardown(() => crashed.close());
    await crashed.init(['1']);
    // The "crashed" scheduler reserved slot 1 and died before starting anything.
    const begin = await crashed.beginPass({
      slotIds: ['1'],
      owner: 'crashed',
      leaseMs: 1500,
      deliverable: [],
      retentionMs: 60_000,
      limit: 100,
    });
    t.is(begin.reserved.length, 1);
    await s.schedule();
    t.is(backend.started.length, 0, 'the reserved slot must not be filled while the reservation holds');
    // Once the reservation lapses, a pass reclaims the slot and fills it.
    await waitFor(async () => (await s.schedule(), backend.started.length === 1), 't1 to start after the lapse', 10_000);
    t.deepEqual(
      backend.started.map((x) => x.taskId),
      ['t1'],
    );
  });

  test(title('several schedulers racing never run more tasks than slots, nor one task twice'), async (t) => {
    const h = await harness(t, kind);
    // Every id appears twice in the queue: a non-claiming source, as in the Python original.
    const ids = Array.from({ length: 30 }, (_, i) => `task-${i}`);
    const backend = new ScriptedBackend([...ids, ...ids]);
    const stopErrors: unknown[] = [];
    backend.onStart = (taskId, context) => {
      const stop = () => context.stop({ status: 'succeeded' }).catch((error: unknown) => stopErrors.push(error));
      setTimeout(() => void stop(), 5 + (taskId.length % 3) * 5);
    };
    const schedulers = Array.from({ length: 4 }, () => h.scheduler({ A: backend }));
    for (const x of schedulers) await x.load(slots(3, ['A']));
    for (let round = 0; round < 20 && backend.queue.length > 0; round++) {
      await Promise.all(schedulers.map((x) => x.schedule()));
      await sleep(10);
    }
    // An id leaves the queue when polled, and is started or handed back a moment later.
    const settled = () => backend.started.length + backend.rejected.length === ids.length * 2;
    await waitFor(
      async () => (await Promise.all(schedulers.map((x) => x.schedule())), settled()),
      'every id to start or be handed back',
      10_000,
    );
    await waitFor(() => backend.stopped.length === backend.started.length, 'every started task to stop', 10_000);
    t.true(backend.maxRunning <= 3, `max running ${backend.maxRunning}`);
    t.true(backend.maxRunning >= 2, 'the slots were used concurrently');
    t.deepEqual(backend.doubleStarts, []);
    t.deepEqual(stopErrors, []);
    // Every id ran; a repeat polled while its first copy ran was handed back as a duplicate.
    t.deepEqual([...new Set(backend.started.map((x) => x.taskId))].sort(), [...ids].sort());
    t.is(backend.started.length + backend.rejected.length, ids.length * 2);
  });

  test(title('maxLocalTasks caps what one scheduler runs; other schedulers of the name take the other slots'), async (t) => {
    const h = await harness(t, kind);
    const a = new ScriptedBackend(Array.from({ length: 16 }, (_, i) => `task-${i}`));
    const b = new ScriptedBackend();
    b.queue = a.queue; // one source, two processes
    for (const backend of [a, b]) {
      backend.onStart = (_taskId, context) => void setTimeout(() => void context.stop({ status: 'succeeded' }), 10);
    }
    const first = h.scheduler({ A: a }, { maxLocalTasks: 2 });
    const second = h.scheduler({ A: b }, { maxLocalTasks: 2 });
    await first.load(slots(4, ['A']));
    await second.load(slots(4, ['A']));
    t.like(await first.schedule(), { started: 2, released: 0 }); // reserved only the 2 it may run
    t.like(await second.schedule(), { started: 2 });
    // A task leaves the queue when polled, before it starts: count the starts, not the queue.
    await waitFor(
      () => a.started.length + b.started.length === 16 && a.running.size + b.running.size === 0,
      'every task to run and stop',
      10_000,
    );
    t.true(a.maxRunning <= 2 && b.maxRunning <= 2, `at most 2 each: ${a.maxRunning}, ${b.maxRunning}`);
    t.is(a.started.length + b.started.length, 16);
    t.true(b.started.length >= 2, 'the second scheduler kept its share');
  });

  test(title('at maxLocalTasks, a backend that claims its tasks refills the slot a stop frees without a pass'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ClaimingBackend(Array.from({ length: 6 }, (_, i) => `task-${i}`));
    // Each task stops once its startCallback has returned: the next one must start without a pass.
    backend.onStart = (_taskId, context) => void setImmediate(() => void context.stop({ status: 'succeeded' }));
    const s = h.scheduler({ A: backend }, { maxLocalTasks: 1 });
    await s.load(slots(2, ['A']));
    let passes = 0;
    s.on('pass:end', () => passes++);
    const calls: string[] = [];
    s.on('store:call', (call) => calls.push(call.method));
    // One pass, and no tick: only refills can start the other five.
    t.like(await s.schedule(), { started: 1 });
    await waitFor(() => backend.stopped.length === 6, 'the six tasks to run back to back');
    t.is(passes, 1, 'no pass after the first');
    // Each stop's end carried the next task polled for its slot (EndRequest.next).
    t.is(calls.filter((m) => m === 'start' || m === 'startMany').length, 1, `only the pass started a task itself: ${calls.join(' ')}`);
    // The ended task's stopCallback (synchronous here) is called before the next startCallback.
    t.is(backend.maxRunning, 1);
    t.deepEqual(backend.rejected, []);
  });

  test(title('exactly one stopCallback per occupancy when stops and timeouts race across schedulers'), async (t) => {
    const h = await harness(t, kind);
    const ids = Array.from({ length: 12 }, (_, i) => `r${i}`);
    const backend = new ScriptedBackend(ids);
    // A timeout long enough that a slow start under load still launches (a start whose slot may
    // have lapsed before startCallback is handed back unstarted).
    const schedulers = Array.from({ length: 3 }, () => h.scheduler({ A: backend }, { timeout: '600ms' }));
    for (const x of schedulers) await x.load(slots(4, ['A']));
    await schedulers[0]!.schedule();
    await sleep(590);
    // Right around the deadline: every scheduler stops every running task and passes at once.
    const running = [...backend.running];
    t.true(running.length > 0, 'tasks ran into the race');
    await Promise.all([...running.flatMap((id) => schedulers.map((x) => x.stop(id))), ...schedulers.map((x) => x.schedule())]);
    await sleep(300);
    await Promise.all(schedulers.map((x) => x.schedule()));
    for (const { taskId, token } of backend.started.filter((x) => running.includes(x.taskId))) {
      const stops = backend.stopped.filter((s) => s.taskId === taskId && s.outcome.token === token);
      t.is(stops.length, 1, `${taskId}/${token} got ${stops.length} stopCallbacks`);
    }
  });

  registerSchedulerIdCases(test, kind);

  test(title('an end whose callbacks died with their process is delivered again by another scheduler, once, with its token'), async (t) => {
    const h = await harness(t, kind);
    const backend = new ScriptedBackend(['t1']);
    const worker = h.scheduler({ A: backend });
    await worker.load(slots(1, ['A']));
    await worker.schedule();
    const started = backend.started[0]!;
    // The worker's process ends the task in the store, then dies before any callback ran: played
    // by a store of the same state, leasing the record to an owner that never acknowledges it.
    const crashed = await h.setup.createStore(h.name);
    t.teardown(() => crashed.close());
    if (!crashed.acknowledge && !kind.deliveryLog) return void t.pass(`${crashed.kind} keeps no delivery log: at most once`);
    const request = { taskId: 't1', token: started.token, reason: 'stopped' as const, status: 'succeeded', deliverable: ['A'] };
    t.like(await crashed.end({ ...request, delivery: { owner: 'crashed', leaseMs: 300 } }), { ok: true, delivered: true });

    const survivor = h.scheduler({ A: backend }, { callbackTimeout: '100ms', deliveryLease: '300ms' });
    await survivor.load(slots(1, ['A']));
    await waitFor(async () => (await survivor.schedule(), backend.stopped.length > 0), 'the redelivery', 10_000);
    t.like(backend.stopsOf('t1'), [{ token: started.token, reason: 'stopped', status: 'succeeded', redelivered: true }]);
    // Acknowledged: a pass after the survivor's own lease lapsed delivers nothing more.
    await Promise.all([worker, survivor].map((x) => x.close()));
    const later = h.scheduler({ A: backend });
    await later.load(slots(1, ['A']));
    await sleep(400);
    await later.schedule();
    t.is(backend.stopped.length, 1, 'exactly once');
  });

  test(title('without crashes each end is delivered once and acknowledged, even when its callbacks throw'), async (t) => {
    const h = await harness(t, kind);
    const ids = ['s1', 's2', 's3', 'late1', 'late2'];
    const backend = new ScriptedBackend(ids);
    backend.throwIn = { stopCallback: true };
    backend.onStart = (taskId, context) => {
      if (taskId.startsWith('s')) setTimeout(() => void context.stop({ status: 'succeeded' }), 10); // the others time out
    };
    // A delivery lease far shorter than the test: an end left unacknowledged would come back. It
    // outlasts the callbacks by far: an end answered later than that is left to a redelivery.
    const options = { timeout: '150ms', callbackTimeout: '50ms', deliveryLease: '600ms' };
    const schedulers = [h.scheduler({ A: backend }, options), h.scheduler({ A: backend }, options)];
    for (const x of schedulers) await x.load(slots(2, ['A']));
    await waitFor(
      async () => (await Promise.all(schedulers.map((x) => x.schedule())), backend.stopped.length === ids.length),
      'every task to end',
      10_000,
    );
    await sleep(1300); // past two delivery leases
    await Promise.all(schedulers.map((x) => x.schedule()));
    t.is(backend.stopped.length, ids.length, 'one stopCallback per occupancy');
    t.deepEqual(
      backend.stopped.filter((s) => s.outcome.redelivered),
      [],
    );
    // Compared sorted: ava compares sets in insertion order, which is the order the ends came in.
    t.deepEqual([...new Set(backend.stopped.map((s) => s.outcome.reason))].sort(), ['stopped', 'timeout']);
  });
}
