/**
 * The Scheduler end to end on the memory store (no server): registering backends, loading a
 * config, a pass, and the lifecycle errors (before load, bad cron, after close).
 */
import test, { type ExecutionContext } from 'ava';
import { Backend, type BackendContext, type StopOutcome, type TaskContext } from '../../src/contracts/backend.js';
import { ConfigError, SchedulerStateError, isTaskSemaphoreError } from '../../src/core/errors.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { MemorySlotStore } from '../../slots/memory/memory-store.js';
import type { BeginPassRequest, EndRequest, EndResult } from '../../src/contracts/store.js';

/** Hands out the ids it was given, one per poll, and records its callbacks. */
class Queue extends Backend {
  static built = 0;
  readonly started: Array<{ taskId: string; context: TaskContext }> = [];
  readonly stopped: Array<{ taskId: string; outcome: StopOutcome }> = [];
  constructor(readonly ids: string[] = []) {
    super();
  }
  poll(): string | null | Promise<string | null> {
    return this.ids.shift() ?? null;
  }
  startCallback(taskId: string, context: TaskContext): void | Promise<void> {
    this.started.push({ taskId, context });
  }
  override stopCallback(taskId: string, outcome: StopOutcome): void | Promise<void> {
    this.stopped.push({ taskId, outcome });
  }
}

/** Registered as a class: built by the scheduler with no arguments. */
class ClassQueue extends Queue {
  constructor() {
    super(['c-1', 'c-2']);
    ClassQueue.built++;
  }
}

let names = 0;
/** A fresh scheduler name per test: tests run concurrently. */
const schedulerName = () => `unit-${process.pid}-${++names}`;

function newScheduler(): Scheduler {
  return new Scheduler({ name: schedulerName() });
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test.serial('a backend registered as a class and one as an instance both fill slots', async (t) => {
  const scheduler = newScheduler();
  t.teardown(() => scheduler.close());
  const instance = new Queue(['i-1']);
  const builtBefore = ClassQueue.built;
  t.is(scheduler.registerBackend('fromClass', ClassQueue).registerBackend('fromInstance', instance), scheduler);
  t.is(ClassQueue.built, builtBefore + 1); // built once, at registration

  await scheduler.load([
    { slotId: 1, backends: ['fromClass'] },
    { slotId: 2, backends: ['fromInstance'] },
    { slotId: 3, backends: ['fromInstance', 'fromClass'] },
    { slotId: 4, backends: ['fromInstance'] },
  ]);
  t.is(ClassQueue.built, builtBefore + 1); // shared by the slots that list it, not built per slot

  const report = await scheduler.schedule();
  t.like(report, { started: 3, released: 1 });

  const slots = await scheduler.inspect();
  t.deepEqual(
    slots.map((s) => [s.slotId, s.status, s.occupancy?.taskId ?? null, s.occupancy?.backend ?? null]),
    [
      ['1', 'running', 'c-1', 'fromClass'],
      ['2', 'running', 'i-1', 'fromInstance'],
      ['3', 'running', 'c-2', 'fromClass'],
      ['4', 'idle', null, null],
    ],
  );
  t.deepEqual(
    instance.started.map((s) => s.taskId),
    ['i-1'],
  );
  const [{ context }] = instance.started as [{ taskId: string; context: TaskContext }];
  t.like(context, { taskId: 'i-1', slotId: '2', backend: 'fromInstance' });
  t.true(Number.isSafeInteger(context.token));
  t.false(context.signal.aborted);
});

test('stop() frees the slot and calls stopCallback once, in this process', async (t) => {
  const scheduler = newScheduler();
  t.teardown(() => scheduler.close());
  const backend = new Queue(['t-1']);
  scheduler.registerBackend('q', backend);
  await scheduler.load([{ slotId: 1, backends: ['q'] }]);
  t.like(await scheduler.schedule(), { started: 1 });

  const outcome = await scheduler.stop('t-1', { status: 'succeeded' });
  t.like(outcome, { ok: true, delivered: true, taskId: 't-1', slotId: '1', reason: 'stopped', status: 'succeeded' });
  t.is(backend.stopped.length, 1);
  t.like(backend.stopped[0]!.outcome, { taskId: 't-1', reason: 'stopped', status: 'succeeded' });
  t.like(await scheduler.stop('t-1'), { ok: false, reason: 'ended' });
  t.like(await scheduler.keepalive('never-polled'), { ok: false, reason: 'unknown' });
  t.is(backend.stopped.length, 1);
});

test('load() before registerBackend rejects with ERR_UNKNOWN_BACKEND, and the scheduler stays usable', async (t) => {
  const scheduler = newScheduler();
  t.teardown(() => scheduler.close());
  const error = await t.throwsAsync(scheduler.load([{ slotId: 1, backends: ['MyBackend'] }]), { instanceOf: ConfigError });
  t.is(error.code, 'ERR_UNKNOWN_BACKEND');
  t.is(error.field, 'slots[0].backends[0]');
  t.true(error.message.includes('registerBackend'), error.message);
  // Still not loaded.
  t.throws(() => scheduler.schedule(), { instanceOf: SchedulerStateError });

  scheduler.registerBackend('MyBackend', new Queue());
  await t.notThrowsAsync(scheduler.load([{ slotId: 1, backends: ['MyBackend'] }]));
  t.like(await scheduler.schedule(), { started: 0, released: 1 });
});

test('load() with a bad config keeps the config already loaded', async (t) => {
  const scheduler = newScheduler();
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('q', new Queue(['a']));
  await scheduler.load([{ slotId: 1, backends: ['q'] }]);
  await t.throwsAsync(scheduler.load([{ slotId: 1, backends: ['nope'] }]), { instanceOf: ConfigError });
  t.like(await scheduler.schedule(), { started: 1 });
});

test('schedule() and start() before load() throw SchedulerStateError', (t) => {
  const scheduler = newScheduler();
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('q', new Queue());
  const error = t.throws(() => scheduler.schedule(), { instanceOf: SchedulerStateError });
  t.is(error.code, 'ERR_SCHEDULER_STATE');
  t.true(isTaskSemaphoreError(error));
  t.true(error.message.includes('load()'), error.message);
  t.throws(() => scheduler.start(), { instanceOf: SchedulerStateError });
});

test("start({ cron: 'nonsense' }) throws ConfigError and runs no pass", async (t) => {
  const scheduler = newScheduler();
  t.teardown(() => scheduler.close());
  let polls = 0;
  scheduler.registerBackend(
    'q',
    new (class extends Queue {
      override poll(): null {
        polls++;
        return null;
      }
    })(),
  );
  await scheduler.load([{ slotId: 1, backends: ['q'] }]);
  let passes = 0;
  scheduler.on('pass:end', () => passes++);
  for (const cron of ['nonsense', '* * *', '61 * * * *', '']) {
    const error = t.throws(() => scheduler.start({ cron }), { instanceOf: ConfigError });
    t.is(error.field, 'start(options.cron)');
    t.is(error.value, cron);
  }
  await delay(20);
  t.is(passes, 0);
  t.is(polls, 0);
});

test.serial('a start() with a bad cron stops the cron already running', async (t) => {
  const scheduler = newScheduler();
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('q', new Queue());
  await scheduler.load([{ slotId: 1, backends: ['q'] }]);
  let passes = 0;
  const firstPass = new Promise<void>((resolve) => scheduler.once('pass:end', () => resolve()));
  scheduler.on('pass:end', () => passes++);
  scheduler.start({ cron: '* * * * * *' }); // every second
  await firstPass;
  t.throws(() => scheduler.start({ cron: 'nonsense' }), { instanceOf: ConfigError });
  const before = passes;
  await delay(2200);
  t.true(passes > before, 'the every-second cron kept ticking after the rejected start()');
});

test('durations past what Node timers honour (2^31-1 ms) are refused, not silently shortened', (t) => {
  for (const options of [{ callbackTimeout: '30d' }, { pollTimeout: '30d', reservationTimeout: '31d' }, { timeout: '25d' }]) {
    const error = t.throws(() => new Scheduler({ name: schedulerName(), ...options }), { instanceOf: ConfigError });
    t.regex(error.message, /2147483647 ms/);
  }
  t.notThrows(() => new Scheduler({ name: schedulerName(), callbackTimeout: '24d' }));
});

test('registerBackend rejects what is not a backend', (t) => {
  const scheduler = newScheduler();
  t.teardown(() => scheduler.close());
  class NotABackend {}
  for (const bad of [{}, 42, null, undefined, 'MyBackend', { poll: 'x' }, NotABackend]) {
    const error = t.throws(() => scheduler.registerBackend('b', bad as unknown as Backend), { instanceOf: ConfigError });
    t.is(error.field, 'registerBackend("b")');
    t.true(error.message.includes('Backend'), error.message);
  }
  for (const name of ['', 42, undefined]) {
    const error = t.throws(() => scheduler.registerBackend(name as unknown as string, new Queue()), { instanceOf: ConfigError });
    t.is(error.field, 'registerBackend(name)');
  }
  // Nothing was registered by the failed calls.
  return t.throwsAsync(scheduler.load([{ slotId: 1, backends: ['b'] }]), { instanceOf: ConfigError, message: /unknown backend/ });
});

test('registerBackend with a factory function throws a TypeError, not a ConfigError', (t) => {
  // An arrow function cannot be called with `new`; the raw TypeError escapes.
  const scheduler = newScheduler();
  t.teardown(() => scheduler.close());
  const factory = () => new Queue();
  t.throws(() => scheduler.registerBackend('b', factory as unknown as Backend), { instanceOf: ConfigError });
});

test('close() is idempotent', async (t) => {
  const scheduler = newScheduler();
  scheduler.registerBackend('q', new Queue(['a']));
  await scheduler.load([{ slotId: 1, backends: ['q'] }]);
  await scheduler.schedule();
  const first = scheduler.close();
  t.is(scheduler.close(), first);
  await t.notThrowsAsync(first);
  await t.notThrowsAsync(scheduler.close());
  await t.notThrowsAsync(scheduler[Symbol.asyncDispose]());
});

test('close() on a scheduler never loaded resolves', async (t) => {
  const scheduler = newScheduler();
  await t.notThrowsAsync(scheduler.close());
});

test('close() waits for the pass under way', async (t) => {
  const scheduler = newScheduler();
  scheduler.registerBackend(
    'slow',
    new (class extends Queue {
      override async poll(): Promise<string | null> {
        await delay(50);
        return null;
      }
    })(),
  );
  await scheduler.load([{ slotId: 1, backends: ['slow'] }]);
  let ended = false;
  scheduler.on('pass:end', () => (ended = true));
  const pass = scheduler.schedule();
  await scheduler.close();
  t.true(ended);
  t.like(await pass, { released: 1 });
});

test('every method after close() throws SchedulerStateError', async (t) => {
  const scheduler = newScheduler();
  scheduler.registerBackend('q', new Queue(['a']));
  await scheduler.load([{ slotId: 1, backends: ['q'] }]);
  await scheduler.schedule();
  await scheduler.close();

  const state = { instanceOf: SchedulerStateError, message: /closed/ };
  t.throws(() => scheduler.schedule(), state);
  t.throws(() => scheduler.start(), state);
  await t.throwsAsync(scheduler.load([{ slotId: 1, backends: ['q'] }]), state);
  await t.throwsAsync(scheduler.keepalive('a'), state);
  await t.throwsAsync(scheduler.stop('a'), state);
  await t.throwsAsync(scheduler.cancel('a'), state);
  await t.throwsAsync(scheduler.inspect(), state);
});

test('a backend is opened once by load(), can request passes, and is closed by close()', async (t) => {
  const calls: string[] = [];
  let requestPass: (() => void) | undefined;
  const backend = new (class extends Queue {
    override open(context: BackendContext): void {
      calls.push(`open ${context.name} of ${context.scheduler}`);
      requestPass = context.requestPass;
    }
    override close(): void {
      calls.push('close');
    }
  })();
  const scheduler = newScheduler();
  scheduler.registerBackend('q', backend);
  await scheduler.load([{ slotId: 1, backends: ['q'] }]);
  await scheduler.load([
    { slotId: 1, backends: ['q'] },
    { slotId: 2, backends: ['q'] },
  ]);
  t.deepEqual(calls, [`open q of ${scheduler.name}`]);
  // Work arrives and the backend says so: a pass starts it, with no schedule() call.
  const passed = new Promise<void>((resolve) => scheduler.once('pass:end', () => resolve()));
  backend.ids.push('pushed');
  requestPass!();
  await passed;
  t.is(backend.started.at(-1)?.taskId, 'pushed');
  await scheduler.close();
  t.deepEqual(calls.at(-1), 'close');
});

/** A scheduler with one slot on the given store, fed t-1 then t-2, after a first pass (t-1 runs). */
async function oneSlotWith<B extends Queue = Queue>(
  t: ExecutionContext,
  store: () => MemorySlotStore,
  backend: B = new Queue(['t-1', 't-2']) as B,
): Promise<{ scheduler: Scheduler; backend: B }> {
  const scheduler = new Scheduler({ name: schedulerName(), defaultSlotClass: 'Custom' });
  t.teardown(() => scheduler.close());
  scheduler.registerSlotClass('Custom', store).registerBackend('q', backend);
  await scheduler.load([{ slotId: 1, backends: ['q'] }]);
  await scheduler.schedule();
  return { scheduler, backend };
}

test('a pass whose read of the store predates a refill never takes the refilled task for lost', async (t) => {
  // The pass reads the store while t-1 still runs, and its answer arrives after t-1 stopped and
  // its kept slot started t-2: the stale answer must not abort t-2.
  let release: () => void = () => {};
  let hold = false;
  class LateStore extends MemorySlotStore {
    override async beginPass(request: BeginPassRequest) {
      const result = await super.beginPass(request);
      if (hold) await new Promise<void>((resolve) => (release = resolve));
      return result;
    }
  }
  const { scheduler, backend } = await oneSlotWith(t, () => new LateStore());
  hold = true;
  const pass = scheduler.schedule();
  await delay(10);
  t.like(await scheduler.stop('t-1'), { ok: true });
  while (backend.started.length < 2) await delay(5);
  const signal = backend.started[1]!.context.signal;
  release();
  await pass;
  t.false(signal.aborted, `t-2 aborted: ${String((signal.reason as Error | undefined)?.message)}`);
  t.like(await scheduler.keepalive('t-2'), { ok: true, slotId: '1' });
});

test('a wake-up while a refill holds the slots is not lost: once the refill gives them back empty, a pass looks again', async (t) => {
  // As a database queue does it: the new task commits, and its wake-up comes, after the refill's
  // poll has looked (its snapshot was older). The pass that wake-up runs finds no idle slot: the
  // refill holds the only one. Without a pass after the refill, t-2 would wait for a cron tick.
  class WakingQueue extends Queue {
    requestPass: () => void = () => {};
    override open(context: BackendContext): void {
      this.requestPass = () => context.requestPass();
    }
  }
  const backend = new WakingQueue(['t-1']);
  const scheduler = new Scheduler({ name: schedulerName() });
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('q', backend);
  await scheduler.load([{ slotId: 1, backends: ['q'] }]);
  await scheduler.schedule();
  let passes = 0;
  scheduler.on('pass:end', () => passes++);
  backend.poll = () => {
    backend.poll = () => backend.ids.shift() ?? null;
    backend.ids.push('t-2');
    backend.requestPass();
    return null;
  };
  t.like(await scheduler.stop('t-1'), { ok: true });
  for (const until = Date.now() + 2000; backend.started.length < 2 && Date.now() < until;) await delay(5);
  t.deepEqual(
    backend.started.map((s) => s.taskId),
    ['t-1', 't-2'],
  );
  t.is(passes, 2, 'the pass the wake-up ran, then the one after the refill');
});

test('a pass at maxLocalTasks reserves nothing and leaves the running tasks alone', async (t) => {
  const scheduler = new Scheduler({ name: schedulerName(), maxLocalTasks: 1 });
  t.teardown(() => scheduler.close());
  const backend = new Queue(['t-1', 't-2']);
  scheduler.registerBackend('q', backend);
  await scheduler.load([
    { slotId: 1, backends: ['q'] },
    { slotId: 2, backends: ['q'] },
  ]);
  t.like(await scheduler.schedule(), { started: 1, released: 0 });
  t.like(await scheduler.schedule(), { started: 0, released: 0 });
  t.false(backend.started[0]!.context.signal.aborted);
  t.deepEqual(
    (await scheduler.inspect()).map((s) => s.status),
    ['running', 'idle'],
  );
  t.deepEqual(backend.ids, ['t-2'], 'no poll claimed work beyond the cap');
});

/** Hands out the ids it was given and claims them, as a database queue would: see Backend.claimsTasks. */
class ClaimingQueue extends Queue {
  override readonly claimsTasks = true;
  readonly rejected: Array<{ taskId: string; reason: string }> = [];
  override rejectCallback(taskId: string, info: { reason: string }): void {
    this.rejected.push({ taskId, reason: info.reason });
  }
}

test('a backend that claims what it polls is polled while the stop that keeps its slot is in flight', async (t) => {
  let gate: Promise<void> | undefined;
  class SlowEndStore extends MemorySlotStore {
    override async end(request: EndRequest) {
      if (gate) await gate;
      return super.end(request);
    }
  }
  const { scheduler, backend } = await oneSlotWith(t, () => new SlowEndStore(), new ClaimingQueue(['t-1', 't-2', 't-3']));
  // The first stop teaches the scheduler that this store keeps slots; t-2 starts after it.
  await scheduler.stop('t-1');
  while (backend.started.length < 2) await delay(5);
  let open: () => void = () => {};
  gate = new Promise((resolve) => (open = resolve));
  const stopping = scheduler.stop('t-2');
  while (backend.ids.length > 0) await delay(5);
  t.deepEqual(backend.ids, [], 't-3 was polled while the end of t-2 waited');
  t.is(backend.started.length, 2, 'and not started before the slot was kept');
  open();
  t.like(await stopping, { ok: true });
  while (backend.started.length < 3) await delay(5);
  t.like(backend.started[2], { taskId: 't-3', context: { slotId: '1' } });
});

test('an id polled early for a stop whose end does not act goes back to its backend, unstarted', async (t) => {
  let refuse = false;
  // An end that finds the occupancy already ended elsewhere: it frees and keeps nothing.
  class RefusingStore extends MemorySlotStore {
    override async end(request: EndRequest) {
      return refuse ? { ok: false as const, reason: 'ended' as const, endReason: 'cancelled' as const } : super.end(request);
    }
  }
  const { scheduler, backend } = await oneSlotWith(t, () => new RefusingStore(), new ClaimingQueue(['t-1', 't-2', 't-3']));
  await scheduler.stop('t-1');
  while (backend.started.length < 2) await delay(5);
  refuse = true;
  t.like(await scheduler.stop('t-2'), { ok: false, reason: 'ended' });
  while (backend.rejected.length < 1) await delay(5);
  t.deepEqual(backend.rejected, [{ taskId: 't-3', reason: 'reservation_lost' }]);
  t.deepEqual(
    backend.started.map((s) => s.taskId),
    ['t-1', 't-2'],
  );
});

/** A memory store that keeps every end request it is sent. */
class RecordingEnds extends MemorySlotStore {
  readonly ends: EndRequest[] = [];
  override async end(request: EndRequest) {
    this.ends.push(request);
    return super.end(request);
  }
}

test('a stop does not wait for a poll that answers late: its end goes alone, and the task polled starts after it', async (t) => {
  let gate: Promise<void> | undefined;
  class SlowPoll extends ClaimingQueue {
    override async poll() {
      if (gate) await gate;
      return super.poll();
    }
  }
  const store = new RecordingEnds();
  const { scheduler, backend } = await oneSlotWith(t, () => store, new SlowPoll(['t-1', 't-2']));
  const { ends } = store;
  let open: () => void = () => {};
  gate = new Promise((resolve) => (open = resolve));
  // The poll for the slot hangs: the stop is answered all the same, its end carrying no task.
  t.like(await scheduler.stop('t-1'), { ok: true, taskId: 't-1' });
  t.is(ends.length, 1);
  t.is(ends[0]!.next, undefined);
  t.like(await scheduler.inspect(), [{ slotId: '1', status: 'reserved' }], 'the slot is kept for the poll');
  open();
  while (backend.started.length < 2) await delay(5);
  t.like(backend.started[1], { taskId: 't-2', context: { slotId: '1' } });
  t.deepEqual(backend.rejected, []);
});

test('a stop whose poll answers at once carries the task polled: its end starts it', async (t) => {
  const store = new RecordingEnds();
  const { scheduler, backend } = await oneSlotWith(t, () => store, new ClaimingQueue(['t-1', 't-2']));
  const { ends } = store;
  t.like(await scheduler.stop('t-1'), { ok: true, taskId: 't-1' });
  while (backend.started.length < 2) await delay(5);
  t.like(ends, [{ taskId: 't-1', next: { taskId: 't-2', backend: 'q' } }]);
  t.like(backend.started[1], { taskId: 't-2', context: { slotId: '1' } });
});

test('a stop whose poll answers in the next turn of the event loop (a reply read then) still carries the task polled', async (t) => {
  // As a Redis LPOP answers: its reply arrives while the stop's turn runs, and is read in the next.
  class NextTurnPoll extends ClaimingQueue {
    override async poll() {
      await new Promise((resolve) => setImmediate(resolve));
      return super.poll();
    }
  }
  const store = new RecordingEnds();
  const { scheduler, backend } = await oneSlotWith(t, () => store, new NextTurnPoll(['t-1', 't-2']));
  t.like(await scheduler.stop('t-1'), { ok: true, taskId: 't-1' });
  while (backend.started.length < 2) await delay(5);
  t.like(store.ends, [{ taskId: 't-1', next: { taskId: 't-2', backend: 'q' } }]);
  t.like(backend.started[1], { taskId: 't-2', context: { slotId: '1' } });
});

test('a stop while another slot’s refill round is under way waits for its own round, and its end carries the task polled', async (t) => {
  let gate: Promise<void> | undefined;
  // Holds the end of a-1 (and so its refill round) until the gate opens. Its ends go in batches,
  // as on Redis and PostgreSQL: an end sent alone would wait behind a-1's batch.
  class GatedEnds extends RecordingEnds {
    async endMany(requests: readonly EndRequest[]) {
      const results: EndResult[] = [];
      for (const request of requests) results.push(await this.end(request));
      return results;
    }
    override async end(request: EndRequest) {
      if (request.taskId === 'a-1' && gate) {
        this.ends.push(request);
        await gate;
        return MemorySlotStore.prototype.end.call(this, request);
      }
      return super.end(request);
    }
  }
  const store = new GatedEnds();
  const backend = new ClaimingQueue(['a-1', 'b-1', 'a-2', 'b-2']);
  const scheduler = new Scheduler({ name: schedulerName(), defaultSlotClass: 'Custom' });
  t.teardown(() => scheduler.close());
  scheduler.registerSlotClass('Custom', () => store).registerBackend('q', backend);
  await scheduler.load([
    { slotId: 1, backends: ['q'] },
    { slotId: 2, backends: ['q'] },
  ]);
  await scheduler.schedule();
  t.deepEqual(
    backend.started.map((s) => [s.taskId, s.context.slotId]),
    [
      ['a-1', '1'],
      ['b-1', '2'],
    ],
  );
  let open: () => void = () => {};
  gate = new Promise((resolve) => (open = resolve));
  // A failed assertion ends the test: the held end must not keep the scheduler's close waiting.
  t.teardown(() => open());
  const stoppingA = scheduler.stop('a-1');
  while (store.ends.length < 1) await delay(5);
  t.like(store.ends, [{ taskId: 'a-1', next: { taskId: 'a-2' } }], "a-1's round is under way, its end held at the store");
  const stoppingB = scheduler.stop('b-1');
  await delay(30);
  t.is(store.ends.length, 1, 'the end of b-1 waits for its own round rather than go alone');
  open();
  t.like(await stoppingA, { ok: true });
  t.like(await stoppingB, { ok: true });
  while (backend.started.length < 4) await delay(5);
  t.like(store.ends[1], { taskId: 'b-1', next: { taskId: 'b-2', backend: 'q' } }, 'one call ended b-1 and started b-2');
  t.deepEqual(
    backend.started.slice(2).map((s) => [s.taskId, s.context.slotId]),
    [
      ['a-2', '1'],
      ['b-2', '2'],
    ],
  );
});

test('a task that stops itself inside its startCallback, started by a refill round, is not held for that round', async (t) => {
  // The round that started t-2 waits for t-2's startCallback, which waits for t-2's stop: the
  // stop's end must not wait for a round behind that one.
  class StopsAtStart extends ClaimingQueue {
    override async startCallback(taskId: string, context: TaskContext) {
      await super.startCallback(taskId, context);
      if (taskId === 't-2') await context.stop();
    }
  }
  const scheduler = new Scheduler({ name: schedulerName(), defaultSlotClass: 'Custom', callbackTimeout: 20_000 });
  t.teardown(() => scheduler.close());
  const backend = new StopsAtStart(['t-1', 't-2', 't-3']);
  scheduler.registerSlotClass('Custom', () => new MemorySlotStore()).registerBackend('q', backend);
  await scheduler.load([{ slotId: 1, backends: ['q'] }]);
  await scheduler.schedule();
  const began = Date.now();
  await scheduler.stop('t-1');
  while (backend.started.length < 3 && Date.now() - began < 5_000) await delay(5);
  t.deepEqual(
    backend.started.map((s) => s.taskId),
    ['t-1', 't-2', 't-3'],
  );
  t.true(Date.now() - began < 1_000, `t-3 started ${Date.now() - began} ms after the stop of t-1`);
});

test('a slow stopCallback holds back neither the next task of its slot nor the refill round', async (t) => {
  let callbackDone = false;
  class SlowStop extends ClaimingQueue {
    override async stopCallback(taskId: string, outcome: StopOutcome) {
      if (taskId === 't-1') await delay(400);
      callbackDone = true;
      await super.stopCallback(taskId, outcome);
    }
  }
  const { scheduler, backend } = await oneSlotWith(t, () => new MemorySlotStore(), new SlowStop(['t-1', 't-2']));
  const stopping = scheduler.stop('t-1');
  const began = Date.now();
  while (backend.started.length < 2) await delay(5);
  t.true(Date.now() - began < 300, `t-2 started ${Date.now() - began} ms after the stop`);
  t.false(callbackDone, "t-2 did not wait for t-1's stopCallback");
  t.like(await stopping, { ok: true });
});

test('a backend that does not claim is polled for a kept slot only after the end and its callbacks', async (t) => {
  // Offers each task until its stopCallback ran, as a backend that marks tasks done there does.
  class MarksDone extends Queue {
    readonly done = new Set<string>();
    override poll(): string | null {
      return this.ids.find((id) => !this.done.has(id)) ?? null;
    }
    override async stopCallback(taskId: string, outcome: StopOutcome): Promise<void> {
      this.done.add(taskId);
      await super.stopCallback(taskId, outcome);
    }
  }
  const first = new ClaimingQueue([]);
  const second = new MarksDone(['t-1', 't-2']);
  const scheduler = new Scheduler({ name: schedulerName(), defaultSlotClass: 'Custom' });
  t.teardown(() => scheduler.close());
  scheduler
    .registerSlotClass('Custom', () => new MemorySlotStore())
    .registerBackend('q', first)
    .registerBackend('b', second);
  await scheduler.load([{ slotId: 1, backends: ['q', 'b'] }]);
  await scheduler.schedule();
  t.deepEqual(
    second.started.map((s) => s.taskId),
    ['t-1'],
  );
  t.like(await scheduler.stop('t-1'), { ok: true });
  while (second.started.length < 2) await delay(5);
  t.deepEqual(
    second.started.map((s) => s.taskId),
    ['t-1', 't-2'],
    't-1 is not started again in the slot its stop kept',
  );
});

test("a task's onAbort hears a cancel without its signal being read; one added after the cancel runs at once", async (t) => {
  const { scheduler, backend } = await oneSlotWith(t, () => new MemorySlotStore());
  const context = backend.started[0]!.context;
  const heard: Error[] = [];
  const removed: Error[] = [];
  context.onAbort((reason) => heard.push(reason));
  context.onAbort((reason) => removed.push(reason))();
  t.like(await scheduler.cancel('t-1'), { ok: true });
  t.is(heard.length, 1);
  t.like(heard[0], { code: 'ERR_TASK_ABORTED', abortCause: 'cancel_requested', taskId: 't-1' });
  t.deepEqual(removed, [], 'a removed listener is not called');
  let late: Error | undefined;
  context.onAbort((reason) => (late = reason));
  t.is(late, heard[0], 'called before onAbort returned, with the same reason');
  t.true(context.signal.aborted, 'the signal, first read now, is aborted');
  t.is(context.signal.reason, heard[0]);
});

/** Captures the started task's context, then fails its start: throws, or hangs past callbackTimeout. */
class FailingStart extends Backend {
  readonly started: TaskContext[] = [];
  readonly stopped: StopOutcome[] = [];
  constructor(private readonly how: 'throws' | 'hangs') {
    super();
  }
  poll(): string | null {
    return this.started.length === 0 ? 't-1' : null;
  }
  startCallback(_taskId: string, context: TaskContext): Promise<void> {
    this.started.push(context);
    if (this.how === 'throws') throw new Error('cannot start');
    return new Promise<void>(() => {});
  }
  override stopCallback(_taskId: string, outcome: StopOutcome): void {
    this.stopped.push(outcome);
  }
}

for (const how of ['throws', 'hangs'] as const) {
  test(`a task whose startCallback ${how} is told start_failed before the store frees its slot`, async (t) => {
    // Another process may start a task in the freed slot the moment the end lands: a task launched
    // by the failed startCallback must already see its signal fired, not learn it a round trip later.
    const toldAtEnd: boolean[] = [];
    let backend: FailingStart | undefined;
    class WatchingStore extends MemorySlotStore {
      override end(request: EndRequest) {
        if (request.reason === 'start_failed') toldAtEnd.push(backend!.started[0]!.signal.aborted);
        return super.end(request);
      }
    }
    backend = new FailingStart(how);
    const scheduler = new Scheduler({ name: schedulerName(), defaultSlotClass: 'Custom', callbackTimeout: 50 });
    t.teardown(() => scheduler.close());
    scheduler.registerSlotClass('Custom', () => new WatchingStore()).registerBackend('q', backend);
    await scheduler.load([{ slotId: 1, backends: ['q'] }]);
    await scheduler.schedule();
    t.deepEqual(toldAtEnd, [true]);
    t.like(backend.started[0]!.signal.reason, { abortCause: 'start_failed' });
    t.like(backend.stopped[0], { taskId: 't-1', reason: 'start_failed' });
  });
}

test("inspect() gives the store's clock as this process last read it: host time before any pass, the store's after", async (t) => {
  const aheadMs = 3_600_000; // a store whose clock is an hour ahead of this host's
  const scheduler = new Scheduler({ name: schedulerName(), defaultSlotClass: 'Ahead', logger: false });
  t.teardown(() => scheduler.close());
  scheduler.registerSlotClass('Ahead', () => new MemorySlotStore({ now: () => Date.now() + aheadMs }));
  scheduler.registerBackend('q', new Queue(['a-1']));
  await scheduler.load([{ slotId: 1, backends: ['q'] }]);
  const before = await scheduler.inspect();
  t.true(Math.abs(before[0]!.storeNow - Date.now()) < 1000, 'no pass yet: this host’s clock');
  await scheduler.schedule();
  const [slot] = await scheduler.inspect();
  t.true(
    Math.abs(slot!.storeNow - (Date.now() + aheadMs)) < 1000,
    `after a pass, the store's clock (${slot!.storeNow - Date.now()} ms ahead)`,
  );
  const age = slot!.storeNow - slot!.occupancy!.lastKeepaliveAt;
  t.true(age >= 0 && age < 1000, `the task's keepalive age on the store's clock: ${age} ms`);
});
