/**
 * `scheduler.shutdown()` on the three stores: tasks running in the process get the graceful wait,
 * then their signal (cause `shutdown`), then the final wait, then are ended `dropped`; nothing
 * new starts meanwhile; every wait is bounded; tasks handed to other processes stay in the store;
 * `close()` keeps its meaning. Each slot's state is read afterwards from a second scheduler on
 * the same store, as another process would see it.
 */
import test, { type ExecutionContext } from 'ava';
import { performance } from 'node:perf_hooks';
import { Backend, type TaskContext } from '../../src/contracts/backend.js';
import type { StoreEvent } from '../../src/contracts/store.js';
import { ConfigError, SchedulerStateError, TaskAbortedError } from '../../src/core/errors.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import {
  harness,
  makeScheduler,
  ScriptedBackend,
  sleep,
  slots,
  waitFor,
  type Harness,
  type SlotKind,
} from '../../src/testing/scheduler-kit.js';
import { closeSlotKinds, memoryKind, postgresKind, redisKind } from '../helpers/slot-kinds.js';

test.after.always(closeSlotKinds);

/** A scripted backend whose tasks run inside the scheduler's process, as Procrastinate handlers do. */
class InProcessBackend extends ScriptedBackend {
  override readonly runsInProcess = true;
}

/** Records the reason each task's signal fired with, listening without making an AbortSignal. */
function recordAborts(backend: ScriptedBackend, then: (taskId: string, ctx: TaskContext) => void): Map<string, unknown> {
  const reasons = new Map<string, unknown>();
  backend.onStart = (taskId, ctx) => {
    ctx.onAbort((reason) => reasons.set(taskId, reason));
    then(taskId, ctx);
  };
  return reasons;
}

/** The slots as another process sees them: status and task per slot id. */
async function slotsSeenFrom(h: Harness): Promise<Array<[string, string, string | undefined]>> {
  const other = h.scheduler({});
  return (await other.inspect()).map((slot) => [slot.slotId, slot.status, slot.occupancy?.taskId]);
}

/** A scheduler on the test's store with `count` slots listing `name`, each running a task of its backend. */
async function runningScheduler(h: Harness, name: string, backend: ScriptedBackend, count: number, options = {}): Promise<Scheduler> {
  const s = h.scheduler({ [name]: backend }, options);
  await s.load(slots(count, [name]));
  await s.schedule();
  return s;
}

/** The events the test's store publishes from now on, as any scheduler of the name hears them. */
async function storeEvents(t: ExecutionContext, h: Harness): Promise<StoreEvent[]> {
  const probe = await h.setup.createStore(h.name);
  await probe.init([]);
  const events: StoreEvent[] = [];
  const unsubscribe = await probe.subscribe!((event) => events.push(event));
  t.teardown(async () => {
    await unsubscribe();
    await probe.close();
  });
  return events;
}

const ids = (tasks: ReadonlyArray<{ taskId: string }>) => tasks.map((task) => task.taskId).sort();

function shutdownCases(kind: SlotKind): void {
  const title = (what: string) => `${kind.label}: ${what}`;

  test(
    title('tasks that finish within the graceful wait: counted finished, never aborted, their own stop reasons, slots free'),
    async (t) => {
      const h = await harness(t, kind);
      const backend = new InProcessBackend(['t1', 't2']);
      const aborts = recordAborts(backend, (taskId, ctx) => {
        setTimeout(() => void ctx.stop(taskId === 't1' ? { status: 'succeeded' } : { status: 'cancelled' }), 300);
      });
      const s = await runningScheduler(h, 'P', backend, 2);
      const began = performance.now();
      const report = await s.shutdown({ graceful: '10s', final: '1s' });
      const tookMs = performance.now() - began;
      t.deepEqual(ids(report.finished), ['t1', 't2']);
      t.deepEqual([report.aborted, report.dropped, report.remote, report.errors], [[], [], [], []]);
      t.true(tookMs < 5000, `resolved once the tasks stopped, not at the graceful deadline (${Math.round(tookMs)} ms)`);
      t.is(aborts.size, 0, 'no signal fired');
      t.like(backend.stopsOf('t1'), [{ reason: 'stopped', status: 'succeeded' }]);
      t.like(backend.stopsOf('t2'), [{ reason: 'cancelled' }]);
      t.deepEqual(await slotsSeenFrom(h), [
        ['1', 'idle', undefined],
        ['2', 'idle', undefined],
      ]);
    },
  );

  test(title('close() lets the stops under way end their tasks first: each ends stopped, none rejects'), async (t) => {
    const h = await harness(t, kind);
    const taskIds = Array.from({ length: 8 }, (_, i) => `t${i + 1}`);
    const backend = new ScriptedBackend(taskIds);
    const s = await runningScheduler(h, 'P', backend, taskIds.length);
    // One stop a turn apart, as tasks finish: on a store that batches ends, the later ones queue
    // behind the batch on its way when close() begins.
    const stops: Array<Promise<unknown>> = [];
    for (const taskId of taskIds) {
      stops.push(backend.contexts.get(taskId)!.stop({ status: 'succeeded' }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await s.close();
    const outcomes = await Promise.allSettled(stops);
    t.deepEqual(
      outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason)),
      [],
    );
    t.deepEqual(backend.stopped.map((stop) => stop.taskId).sort(), taskIds);
    t.true(
      backend.stopped.every((stop) => stop.outcome.reason === 'stopped'),
      JSON.stringify(backend.stopped),
    );
    const seen = await slotsSeenFrom(h);
    t.true(
      seen.every(([, status]) => status === 'idle'),
      JSON.stringify(seen),
    );
  });

  test(title('tasks that honour the abort: signal reason TaskAbortedError, cause shutdown; counted aborted'), async (t) => {
    const h = await harness(t, kind);
    const backend = new InProcessBackend(['t1', 't2']);
    const aborts = recordAborts(backend, (_taskId, ctx) => {
      ctx.onAbort(() => setTimeout(() => void ctx.stop({ status: 'aborted' }), 50));
    });
    const s = await runningScheduler(h, 'P', backend, 2);
    const storeNews = await storeEvents(t, h);
    const events: string[] = [];
    for (const event of ['shutdown:begin', 'shutdown:abort', 'shutdown:drop', 'shutdown:end'] as const)
      s.on(event, () => events.push(event));
    const report = await s.shutdown({ graceful: 300, final: '5s' });
    t.deepEqual(ids(report.aborted), ['t1', 't2']);
    t.deepEqual([report.finished, report.dropped], [[], []]);
    for (const taskId of ['t1', 't2']) {
      const reason = aborts.get(taskId);
      t.true(reason instanceof TaskAbortedError, String(reason));
      t.is((reason as TaskAbortedError).abortCause, 'shutdown');
      t.like(backend.stopsOf(taskId), [{ reason: 'stopped', status: 'aborted' }]);
    }
    t.deepEqual(events, ['shutdown:begin', 'shutdown:abort', 'shutdown:end']);
    const seen = await slotsSeenFrom(h);
    t.true(
      seen.every(([, status]) => status === 'idle'),
      JSON.stringify(seen),
    );
    // The slots go to the fleet, and the other schedulers hear of it at once.
    await waitFor(() => storeNews.filter((e) => e.type === 'freed').length === 2, 'a freed event per slot');
    t.deepEqual(storeNews.map((e) => (e.type === 'freed' ? e.slotId : e.type)).sort(), ['1', '2']);
  });

  test(title('a task that ignores the abort is ended dropped after the final wait, once, its slot free, within the bound'), async (t) => {
    const h = await harness(t, kind);
    const backend = new InProcessBackend(['stubborn']);
    const aborts = recordAborts(backend, () => {}); // runs on, whatever its signal says
    const s = await runningScheduler(h, 'P', backend, 1);
    const dropEvents: unknown[] = [];
    s.on('shutdown:drop', (info) => dropEvents.push(info));
    const { token } = backend.started[0]!;
    const began = performance.now();
    const report = await s.shutdown({ graceful: 300, final: 500 });
    const tookMs = performance.now() - began;
    t.true(tookMs >= 750, `waited for both deadlines (${Math.round(tookMs)} ms)`);
    t.true(tookMs < 300 + 500 + 2000, `never hangs: ${Math.round(tookMs)} ms`);
    t.deepEqual(report.dropped, [{ taskId: 'stubborn', token, slotId: '1', backend: 'P', recorded: true }]);
    t.deepEqual([report.finished, report.aborted], [[], []]);
    t.is((aborts.get('stubborn') as TaskAbortedError).abortCause, 'shutdown');
    t.like(backend.stopsOf('stubborn'), [{ reason: 'dropped', token }]);
    t.is(backend.stopsOf('stubborn').length, 1);
    t.deepEqual(dropEvents, [{ tasks: [{ taskId: 'stubborn', token, slotId: '1', backend: 'P' }] }]);
    // Another process: the slot is free, and the task's end is known as dropped.
    const other = h.scheduler({});
    t.like(await other.inspect(), [{ slotId: '1', status: 'idle' }]);
    t.like(await other.keepalive('stubborn', { token }), { ok: false, reason: 'ended', endReason: 'dropped' });
  });

  test(title('a task that ignores the abort keeps its slot through the final wait, even past its process lease'), async (t) => {
    const h = await harness(t, kind);
    const backend = new InProcessBackend(['stubborn']);
    recordAborts(backend, () => {});
    const s = h.scheduler({ P: backend }, { processLease: 300 });
    await s.load(slots(1, ['P'], { timeout: '1m' }));
    await s.schedule();
    const shutting = s.shutdown({ graceful: 100, final: 1500 });
    // Another scheduler's passes reap what lapses (and would deliver the timeout to its own P): the
    // aborted task's lease is still renewed.
    const elsewhere = new InProcessBackend();
    const other = h.scheduler({ P: elsewhere });
    await other.load(slots(1, ['P']));
    const deadline = performance.now() + 1200;
    while (performance.now() < deadline) {
      await other.schedule();
      await sleep(100);
    }
    const report = await shutting;
    t.like(report.dropped, [{ taskId: 'stubborn', recorded: true }]);
    t.like(backend.stopsOf('stubborn'), [{ reason: 'dropped' }]);
    t.deepEqual([elsewhere.timedOut, elsewhere.stopped], [[], []], 'never reaped as a timeout');
  });

  test(title('a second shutdown() cuts the graceful wait and resolves with the same report'), async (t) => {
    const h = await harness(t, kind);
    const backend = new InProcessBackend(['t1']);
    const aborts = recordAborts(backend, (_taskId, ctx) => ctx.onAbort(() => void ctx.stop({ status: 'aborted' })));
    const s = await runningScheduler(h, 'P', backend, 1);
    const began = performance.now();
    const first = s.shutdown({ graceful: '60s', final: '5s' });
    await sleep(200);
    t.is(aborts.size, 0, 'still in the graceful wait');
    const second = s.shutdown({ graceful: 0 });
    const [a, b] = await Promise.all([first, second]);
    t.is(a, b);
    t.true(performance.now() - began < 10_000, 'did not wait out the graceful 60 s');
    t.deepEqual(ids(a.aborted), ['t1'], JSON.stringify(a));
    t.is((aborts.get('t1') as TaskAbortedError).abortCause, 'shutdown');
    t.is(await s.shutdown(), a, 'a call after the end gets the same report');
  });

  test(title('no new task starts once shutdown() began, with work queued and freed events arriving'), async (t) => {
    const h = await harness(t, kind);
    const inProcess = new InProcessBackend(['p1']);
    const remote = new ScriptedBackend(['r1']);
    let stopP1: (() => void) | undefined;
    inProcess.onStart = (_taskId, ctx) => {
      stopP1 = () => void ctx.stop();
    };
    const s = h.scheduler({ R: remote, P: inProcess });
    await s.load(slots(3, ['R', 'P']));
    await s.schedule();
    t.deepEqual([ids(remote.started), ids(inProcess.started)], [['r1'], ['p1']]);
    const events = await storeEvents(t, h);

    const polls = inProcess.polls + remote.polls;
    const shutting = s.shutdown({ graceful: '10s', final: '1s' });
    inProcess.queue.push('p2', 'p3');
    remote.queue.push('r2');
    // A process without a config stops the remote task: the store announces the freed slot.
    const elsewhere = h.scheduler({});
    t.like(await elsewhere.stop('r1'), { ok: true });
    await waitFor(() => events.some((e) => e.type === 'freed'), 'a freed event');
    await sleep(200);
    stopP1!();
    const report = await shutting;
    t.deepEqual([ids(remote.started), ids(inProcess.started)], [['r1'], ['p1']], 'nothing started after shutdown() began');
    t.is(inProcess.polls + remote.polls, polls, 'nothing polled either');
    t.deepEqual(ids(report.finished), ['p1']);
    t.deepEqual(ids(report.remote), ['r1']);
    t.true(
      (await slotsSeenFrom(h)).every(([, status]) => status === 'idle'),
      'no slot left reserved',
    );
  });

  test(title('a remote task is left running in the store, untouched, and another process can stop it afterwards'), async (t) => {
    const h = await harness(t, kind);
    const remote = new ScriptedBackend(['r1']);
    const aborts = recordAborts(remote, () => {});
    const s = await runningScheduler(h, 'R', remote, 1);
    const began = performance.now();
    const report = await s.shutdown({ graceful: '10s', final: '10s' });
    t.true(performance.now() - began < 5000, 'nothing in process to wait for');
    t.like(report, { finished: [], aborted: [], dropped: [], remote: [{ taskId: 'r1', slotId: '1', backend: 'R' }] });
    t.is(aborts.size, 0, 'its signal never fired');
    t.deepEqual(await slotsSeenFrom(h), [['1', 'running', 'r1']]);
    // The process that runs it reports as before, to any scheduler of the name.
    const heir = new ScriptedBackend();
    const other = h.scheduler({ R: heir });
    t.like(await other.keepalive('r1'), { ok: true });
    t.like(await other.stop('r1', { status: 'succeeded' }), { ok: true, reason: 'stopped' });
    t.like(heir.stopsOf('r1'), [{ reason: 'stopped', status: 'succeeded' }]);
  });

  test(title('close() still closes at once, without waiting for or aborting tasks; shutdown() after it is refused'), async (t) => {
    const h = await harness(t, kind);
    const backend = new InProcessBackend(['long']);
    const aborts = recordAborts(backend, () => {});
    const s = await runningScheduler(h, 'P', backend, 1);
    const began = performance.now();
    await s.close();
    t.true(performance.now() - began < 3000);
    t.is(aborts.size, 0);
    t.deepEqual(backend.stopped, []);
    t.deepEqual(await slotsSeenFrom(h), [['1', 'running', 'long']], 'still tracked in the store');
    await t.throwsAsync(s.shutdown(), { instanceOf: SchedulerStateError });
  });
}

for (const kind of [memoryKind, redisKind, postgresKind]) shutdownCases(kind);

test('while shutting down, load/start/schedule are refused; keepalive, stop and cancel still work', async (t) => {
  const h = await harness(t, memoryKind);
  const backend = new InProcessBackend(['t1', 't2']);
  const s = await runningScheduler(h, 'P', backend, 2);
  const shutting = s.shutdown({ graceful: '10s' });
  await t.throwsAsync(async () => s.schedule(), { instanceOf: SchedulerStateError, message: /shutting down/ });
  t.throws(() => s.start(), { instanceOf: SchedulerStateError });
  await t.throwsAsync(s.load(slots(2, ['P'])), { instanceOf: SchedulerStateError });
  t.like(await s.keepalive('t1'), { ok: true });
  t.like(await s.cancel('t2'), { ok: true });
  t.like(await s.stop('t2'), { ok: true, reason: 'cancelled' });
  t.like(await s.stop('t1'), { ok: true, reason: 'stopped' });
  const report = await shutting;
  t.deepEqual(ids(report.finished), ['t1', 't2']);
});

test('close() during a shutdown cuts it short: abort and drop at once, then close', async (t) => {
  const h = await harness(t, memoryKind);
  const backend = new InProcessBackend(['stubborn']);
  const aborts = recordAborts(backend, () => {});
  const s = await runningScheduler(h, 'P', backend, 1);
  const began = performance.now();
  const shutting = s.shutdown({ graceful: '60s', final: '60s' });
  await sleep(100);
  await s.close();
  t.true(performance.now() - began < 5000);
  t.is((aborts.get('stubborn') as TaskAbortedError).abortCause, 'shutdown');
  t.like((await shutting).dropped, [{ taskId: 'stubborn', recorded: true }]);
});

test('a backend close that never settles, and stop callbacks that hang, bound the shutdown by callbackTimeout', async (t) => {
  const h = await harness(t, memoryKind);
  /** Runs one task in process that ignores its signal; its stopCallback and close never settle. */
  class Hanging extends Backend {
    override readonly runsInProcess = true;
    private readonly queue = ['stubborn'];
    override poll(): string | null {
      return this.queue.shift() ?? null;
    }
    override startCallback(): void {}
    override stopCallback(): Promise<void> {
      return new Promise(() => {});
    }
    override close(): Promise<void> {
      return new Promise(() => {});
    }
  }
  const backend = new Hanging();
  const s = makeScheduler(h.setup, h.name, { P: backend }, { callbackTimeout: 500, deliveryLease: 2000 });
  await s.load(slots(1, ['P']));
  await s.schedule();
  const began = performance.now();
  const report = await s.shutdown({ graceful: 100, final: 100 });
  const tookMs = performance.now() - began;
  // graceful + final + 2 × callbackTimeout, and a margin.
  t.true(tookMs < 100 + 100 + 2 * 500 + 1500, `${Math.round(tookMs)} ms`);
  t.like(report.dropped, [{ taskId: 'stubborn' }]);
  t.true(
    report.errors.some((error) => /backend "P" close did not settle/.test(error.message)),
    report.errors.map((e) => e.message).join('; '),
  );
  await t.throwsAsync(s.keepalive('stubborn'), { instanceOf: SchedulerStateError }, 'the stores closed all the same');
});

test('shutdown options are checked, naming the field', async (t) => {
  const h = await harness(t, memoryKind);
  const s = h.scheduler({});
  const graceful = await t.throwsAsync(s.shutdown({ graceful: 'soon' }), { instanceOf: ConfigError });
  t.is(graceful.field, 'shutdown(options.graceful)');
  t.is(graceful.code, 'ERR_BAD_DURATION');
  const final = await t.throwsAsync(s.shutdown({ final: -1 }), { instanceOf: ConfigError });
  t.is(final.field, 'shutdown(options.final)');
  const unknown = await t.throwsAsync(s.shutdown({ grace: 1 } as never), { instanceOf: ConfigError });
  t.regex(unknown.message, /unknown option `grace`; allowed: graceful, final/);
  // Nothing began: a valid call still shuts down.
  t.like(await s.shutdown({ graceful: 0, final: 0 }), { finished: [], dropped: [], errors: [] });
});
