/**
 * `PassPoller`, the rules of one `schedule()` pass: a backend that found nothing, failed or hung is
 * not polled again; a repeated id counts as nothing; batch polls fill a buffer.
 */
import test from 'ava';
import { Backend, type PollContext } from '../../src/contracts/backend.js';
import { CallTimeoutError, PollResultError } from '../../src/core/errors.js';
import { PassPoller, type PollEnd } from '../../src/scheduler/pass-poller.js';

/** A backend whose poll answers from a script; records every call. */
class Scripted extends Backend {
  readonly contexts: PollContext[] = [];
  constructor(private readonly answer: (call: number, context: PollContext) => unknown) {
    super();
  }
  poll(context: PollContext): string | null {
    this.contexts.push(context);
    return this.answer(this.contexts.length, context) as string | null;
  }
  startCallback(): void {}
}

/** A backend that can poll in batches; single polls fail the test if made. */
class Batching extends Scripted {
  readonly batches: Array<{ max: number; context: PollContext }> = [];
  constructor(private readonly batch: (max: number, context: PollContext) => unknown) {
    super(() => {
      throw new Error('single poll made while a batch was expected');
    });
  }
  pollBatch(max: number, context: PollContext): readonly string[] {
    this.batches.push({ max, context });
    return this.batch(max, context) as string[];
  }
}

interface Failure {
  backend: string;
  slotId: string;
  error: Error;
}

function poller(backends: Record<string, Backend>, pollTimeoutMs = 1000): { poller: PassPoller; failures: Failure[]; answers: PollEnd[] } {
  const failures: Failure[] = [];
  const answers: PollEnd[] = [];
  const instance = new PassPoller(new Map(Object.entries(backends)), pollTimeoutMs, {
    answered: (end) => answers.push(end),
    failed: (backend, slotId, error) => failures.push({ backend, slotId, error }),
  });
  return { poller: instance, failures, answers };
}

/** Ids 'prefix-1', 'prefix-2', … one per call. */
const counter = (prefix: string) => (call: number) => `${prefix}-${call}`;

test('ids are handed out in turn, with the slot and backend in the poll context', async (t) => {
  const a = new Scripted(counter('a'));
  const { poller: p, failures } = poller({ a });
  t.is(await p.next('a', '1', 1), 'a-1');
  t.is(await p.next('a', '2', 1), 'a-2');
  t.is(p.polls, 2);
  t.like(a.contexts[1], { slotId: '2', backend: 'a' });
  t.false(a.contexts[1]!.signal.aborted);
  t.deepEqual(failures, []);
});

test('a backend that returned null is not polled again in the same pass', async (t) => {
  const a = new Scripted(() => null);
  const b = new Scripted(counter('b'));
  const { poller: p } = poller({ a, b });
  t.is(await p.next('a', '1', 1), null);
  t.is(await p.next('a', '2', 1), null);
  t.is(await p.next('a', '3', 1), null);
  t.is(a.contexts.length, 1);
  // Other backends are unaffected.
  t.is(await p.next('b', '2', 1), 'b-1');
  t.is(p.polls, 2);
  t.false(p.sawRepeat);
  t.deepEqual(p.unstarted(), []);
});

for (const [label, value] of [
  ["''", ''],
  ['undefined', undefined],
  ['false', false],
  ['null', null],
] as const) {
  test(`a poll returning ${label} means nothing, not an error`, async (t) => {
    const a = new Scripted(() => value);
    const { poller: p, failures } = poller({ a });
    t.is(await p.next('a', '1', 1), null);
    t.is(await p.next('a', '2', 1), null);
    t.is(a.contexts.length, 1);
    t.deepEqual(failures, []);
  });
}

test('an async poll result counts like a sync one', async (t) => {
  const a = new Scripted(async (call: number) => (call === 1 ? 'x' : undefined)) as Backend;
  const { poller: p } = poller({ a });
  t.is(await p.next('a', '1', 1), 'x');
  t.is(await p.next('a', '2', 1), null);
  t.is(await p.next('a', '3', 1), null);
  t.is(p.polls, 2);
});

test('a repeated id from a single poll exhausts the backend', async (t) => {
  // A backend that marks nothing until startCallback returns the same id to every slot.
  const a = new Scripted(() => 'same');
  const { poller: p, failures } = poller({ a });
  t.is(await p.next('a', '1', 1), 'same');
  t.is(await p.next('a', '2', 1), null);
  t.is(await p.next('a', '3', 1), null);
  t.is(a.contexts.length, 2);
  t.deepEqual(failures, []);
  // The repeat was not started: its backend must hear of it, and the pass may be worth running again.
  t.true(p.sawRepeat);
  t.deepEqual(p.unstarted(), [{ backend: 'a', taskId: 'same', slotId: '2', reason: 'duplicate', retryAfterMs: 0 }]);
  t.deepEqual(p.unstarted(), []);
});

test('a repeat is handed back with how long the occupancy its first copy got holds the id', async (t) => {
  const a = new Scripted(() => 'same');
  const { poller: p } = poller({ a });
  t.is(await p.next('a', '1', 1), 'same');
  p.settled('same', 30_000); // the first copy started, and holds the id for 30 s unless it stops
  t.is(await p.next('a', '2', 1), null);
  t.deepEqual(p.unstarted(), [{ backend: 'a', taskId: 'same', slotId: '2', reason: 'duplicate', retryAfterMs: 30_000 }]);
});

test('an id another backend already handed out in this pass counts as nothing', async (t) => {
  const a = new Scripted(() => 'shared');
  const b = new Scripted((call) => (call === 1 ? 'shared' : 'b-only'));
  const { poller: p } = poller({ a, b });
  t.is(await p.next('a', '1', 1), 'shared');
  t.is(await p.next('b', '2', 1), null);
  t.is(await p.next('b', '3', 1), null);
  t.is(b.contexts.length, 1);
  t.deepEqual(p.unstarted(), [{ backend: 'b', taskId: 'shared', slotId: '2', reason: 'duplicate', retryAfterMs: 0 }]);
});

test('a poll that throws is reported and exhausts only that backend', async (t) => {
  const boom = new Error('database down');
  const a = new Scripted(() => {
    throw boom;
  });
  const b = new Scripted(counter('b'));
  const { poller: p, failures } = poller({ a, b });
  t.is(await p.next('a', '7', 1), null);
  t.is(await p.next('a', '8', 1), null);
  t.is(a.contexts.length, 1);
  t.is(failures.length, 1);
  t.like(failures[0], { backend: 'a', slotId: '7' });
  t.is(failures[0]!.error, boom);
  t.is(await p.next('b', '8', 1), 'b-1');
});

test('a poll that rejects with a non-Error is reported as an Error with the cause', async (t) => {
  const a = new Scripted(() => Promise.reject('nope'));
  const { poller: p, failures } = poller({ a });
  t.is(await p.next('a', '1', 1), null);
  t.is(failures.length, 1);
  t.true(failures[0]!.error instanceof Error);
  t.is(failures[0]!.error.cause, 'nope');
});

test('a poll that hangs past pollTimeout is abandoned: its signal fires and a CallTimeoutError is reported', async (t) => {
  const a = new Scripted(() => new Promise(() => {}));
  const b = new Scripted(counter('b'));
  const { poller: p, failures } = poller({ a, b }, 50);
  const began = Date.now();
  t.is(await p.next('a', '4', 1), null);
  t.true(Date.now() - began >= 45);
  t.is(failures.length, 1);
  const { error } = failures[0]!;
  t.like(failures[0], { backend: 'a', slotId: '4' });
  t.true(error instanceof CallTimeoutError);
  t.like(error as CallTimeoutError, { code: 'ERR_CALL_TIMEOUT', backend: 'a', slotId: '4' });
  t.true(error.message.includes('50 ms'), error.message);
  const { signal } = a.contexts[0]!;
  t.true(signal.aborted);
  t.is(signal.reason, error);
  // Exhausted, and only that backend.
  t.is(await p.next('a', '5', 1), null);
  t.is(a.contexts.length, 1);
  t.is(await p.next('b', '5', 1), 'b-1');
  t.is(failures.length, 1);
});

test('a poll that settles in time is not aborted', async (t) => {
  const a = new Scripted(() => new Promise((resolve) => setTimeout(() => resolve('slow'), 20)));
  const { poller: p, failures } = poller({ a }, 500);
  t.is(await p.next('a', '1', 1), 'slow');
  t.false(a.contexts[0]!.signal.aborted);
  t.deepEqual(failures, []);
});

for (const [label, value] of [
  ['a number', 42],
  ['zero', 0],
  ['an object', { id: 'x' }],
  ['an array', ['x']],
  ['true', true],
] as const) {
  test(`a poll returning ${label} is a PollResultError that exhausts only that backend`, async (t) => {
    const a = new Scripted(() => value);
    const b = new Scripted(counter('b'));
    const { poller: p, failures } = poller({ a, b });
    t.is(await p.next('a', '3', 1), null);
    t.is(await p.next('a', '4', 1), null);
    t.is(a.contexts.length, 1);
    t.is(failures.length, 1);
    const { error } = failures[0]!;
    t.true(error instanceof PollResultError);
    t.like(error as PollResultError, { code: 'ERR_POLL_RESULT', backend: 'a', slotId: '3' });
    t.true(error.message.includes('"a"'), error.message);
    t.is(await p.next('b', '4', 1), 'b-1');
  });
}

for (const [label, taskId, problem] of [
  ['a NUL', 'a\u0000b', /NUL/],
  ['a lone surrogate', 'a\ud800b', /surrogate/],
  ['3 kB', 'x'.repeat(3000), /3000 UTF-8 bytes/],
] as const) {
  test(`a poll returning an id with ${label} hands it back as invalid_id, and that backend is not polled again in the pass`, async (t) => {
    const a = new Scripted(() => taskId);
    const b = new Scripted(counter('b'));
    const { poller: p, failures } = poller({ a, b });
    t.is(await p.next('a', '3', 1), null);
    t.is(await p.next('a', '4', 1), null);
    t.is(a.contexts.length, 1);
    t.deepEqual(failures, []);
    const [invalid, ...rest] = p.unstarted();
    t.deepEqual(rest, []);
    t.like(invalid, { backend: 'a', taskId, slotId: '3', reason: 'invalid_id', retryAfterMs: undefined });
    t.regex(invalid!.problem!, problem);
    t.is(await p.next('b', '4', 1), 'b-1');
  });
}

test('bad ids inside a batch are handed back as invalid_id; the good ones are handed out', async (t) => {
  const a = new Batching(() => ['x', 'bad\u0000', 'y', '\udc00']);
  const { poller: p } = poller({ a });
  t.is(await p.next('a', '1', 4), 'x');
  t.is(await p.next('a', '2', 3), 'y');
  t.is(await p.next('a', '3', 2), null);
  t.deepEqual(
    p.unstarted().map(({ taskId, slotId, reason }) => ({ taskId, slotId, reason })),
    [
      { taskId: 'bad\u0000', slotId: '1', reason: 'invalid_id' },
      { taskId: '\udc00', slotId: '1', reason: 'invalid_id' },
    ],
  );
});

// --- batch polling ---------------------------------------------------------------------------------

test('a backend with pollBatch is asked once for `wanted` ids, and the buffer serves the next calls', async (t) => {
  const a = new Batching((max) => Array.from({ length: max }, (_, i) => `a-${i + 1}`));
  const { poller: p, failures } = poller({ a });
  t.is(await p.next('a', '1', 3), 'a-1');
  t.is(await p.next('a', '2', 2), 'a-2');
  t.is(await p.next('a', '3', 1), 'a-3');
  t.is(a.batches.length, 1);
  t.is(a.batches[0]!.max, 3);
  t.like(a.batches[0]!.context, { slotId: '1', backend: 'a' });
  t.is(a.contexts.length, 0);
  t.is(p.polls, 1);
  t.deepEqual(failures, []);
  t.deepEqual(p.unstarted(), []);
});

test('a short batch exhausts the backend once its ids are used', async (t) => {
  const a = new Batching(() => ['only']);
  const { poller: p } = poller({ a });
  t.is(await p.next('a', '1', 3), 'only');
  t.is(await p.next('a', '2', 2), null);
  t.is(await p.next('a', '3', 1), null);
  t.is(a.batches.length, 1);
  t.is(a.contexts.length, 0);
  t.is(p.polls, 1);
  t.deepEqual(p.unstarted(), []);
  t.false(p.sawRepeat);
});

test('an empty batch exhausts the backend at once', async (t) => {
  const a = new Batching(() => []);
  const { poller: p, failures } = poller({ a });
  t.is(await p.next('a', '1', 2), null);
  t.is(await p.next('a', '2', 1), null);
  t.is(a.batches.length, 1);
  t.is(a.contexts.length, 0);
  t.deepEqual(failures, []);
});

test('unstarted() returns the batch ids no slot took as unused, once', async (t) => {
  const a = new Batching(() => ['a-1', 'a-2', 'a-3']);
  const b = new Batching(() => ['b-1', 'b-2']);
  const { poller: p } = poller({ a, b });
  t.is(await p.next('a', '1', 3), 'a-1');
  t.is(await p.next('b', '2', 2), 'b-1');
  t.deepEqual(
    p.unstarted().map(({ backend, taskId, reason }) => ({ backend, taskId, reason })),
    [
      { backend: 'a', taskId: 'a-2', reason: 'unused' },
      { backend: 'a', taskId: 'a-3', reason: 'unused' },
      { backend: 'b', taskId: 'b-2', reason: 'unused' },
    ],
  );
  t.deepEqual(p.unstarted(), []);
  t.false(p.sawRepeat);
});

test('falsy ids inside a batch are skipped, and make it short', async (t) => {
  const a = new Batching(() => ['x', null, '', undefined, false, 'y']);
  const { poller: p, failures } = poller({ a });
  t.is(await p.next('a', '1', 6), 'x');
  t.is(await p.next('a', '2', 5), 'y');
  t.is(await p.next('a', '3', 4), null);
  t.is(a.batches.length, 1);
  t.deepEqual(failures, []);
});

test('a repeat inside a batch is skipped, not the end of the batch', async (t) => {
  const a = new Batching(() => ['x', 'x', 'y']);
  const { poller: p } = poller({ a });
  t.is(await p.next('a', '1', 3), 'x');
  t.is(await p.next('a', '2', 2), 'y');
  t.is(a.batches.length, 1);
  t.deepEqual(p.unstarted(), [{ backend: 'a', taskId: 'x', slotId: '2', reason: 'duplicate', retryAfterMs: 0 }]);
});

test('with one slot wanting, a batching backend is polled singly', async (t) => {
  const a = new Batching(() => ['never']);
  // Replace the failing single poll with a working one.
  a.poll = (context) => {
    a.contexts.push(context);
    return 'single';
  };
  const { poller: p } = poller({ a });
  t.is(await p.next('a', '1', 1), 'single');
  t.is(a.batches.length, 0);
  t.is(a.contexts.length, 1);
});

test('a batch that is not an array is a PollResultError that exhausts the backend', async (t) => {
  const a = new Batching(() => 'x');
  const { poller: p, failures } = poller({ a });
  t.is(await p.next('a', '1', 2), null);
  t.is(await p.next('a', '2', 1), null);
  t.is(a.batches.length, 1);
  t.is(failures.length, 1);
  t.true(failures[0]!.error instanceof PollResultError);
  t.deepEqual(p.unstarted(), []);
});

test('a batch with a non-string id is a PollResultError', async (t) => {
  const a = new Batching(() => ['x', 42]);
  const { poller: p, failures } = poller({ a });
  t.is(await p.next('a', '1', 2), null);
  t.is(failures.length, 1);
  t.true(failures[0]!.error instanceof PollResultError);
  t.like(failures[0]!.error as PollResultError, { backend: 'a', slotId: '1' });
});

test('a batch that hangs is a CallTimeoutError, and its signal fires', async (t) => {
  const a = new Batching(() => new Promise(() => {}));
  const { poller: p, failures } = poller({ a }, 30);
  t.is(await p.next('a', '1', 2), null);
  t.is(failures.length, 1);
  t.true(failures[0]!.error instanceof CallTimeoutError);
  t.true(failures[0]!.error.message.includes('pollBatch'), failures[0]!.error.message);
  t.true(a.batches[0]!.context.signal.aborted);
  t.is(await p.next('a', '2', 1), null);
  t.is(a.batches.length, 1);
});

// --- concurrent slots ------------------------------------------------------------------------------

test('concurrent calls for one backend poll one at a time, in the order slots asked', async (t) => {
  let inFlight = 0;
  let most = 0;
  const a = new Scripted(async (call) => {
    most = Math.max(most, ++inFlight);
    await new Promise((resolve) => setTimeout(resolve, 10));
    inFlight--;
    return call <= 2 ? `a-${call}` : null;
  });
  const { poller: p } = poller({ a });
  const results = await Promise.all(['1', '2', '3', '4'].map((slotId) => p.next('a', slotId, 1)));
  t.deepEqual(results, ['a-1', 'a-2', null, null]);
  t.is(most, 1);
  t.deepEqual(
    a.contexts.map((c) => c.slotId),
    ['1', '2', '3'],
  );
});

test('concurrent calls share one batch, handed out in the order slots asked', async (t) => {
  const a = new Batching(
    (max) => new Promise((resolve) => setTimeout(() => resolve(Array.from({ length: max }, (_, i) => `a-${i + 1}`)), 10)),
  );
  const { poller: p } = poller({ a });
  const results = await Promise.all(['1', '2', '3'].map((slotId) => p.next('a', slotId, 3)));
  t.deepEqual(results, ['a-1', 'a-2', 'a-3']);
  t.is(a.batches.length, 1);
});

test('a failed call does not block the next call for that backend, nor other backends', async (t) => {
  const a = new Scripted(() => Promise.reject(new Error('down')));
  const b = new Scripted(async (call) => `b-${call}`);
  const { poller: p, failures } = poller({ a, b });
  const results = await Promise.all([p.next('a', '1', 1), p.next('b', '1', 1), p.next('a', '2', 1), p.next('b', '2', 1)]);
  t.deepEqual(results, [null, 'b-1', null, 'b-2']);
  t.is(failures.length, 1);
});

test('each poll that answers is reported with its backend, slot, duration and how many ids it found; a failed one is not', async (t) => {
  const a = new Scripted((call) => (call === 1 ? new Promise((resolve) => setTimeout(() => resolve('a-1'), 20)) : null));
  const b = new Batching(() => ['b-1', 'b-2', null]);
  const c = new Scripted(() => {
    throw new Error('down');
  });
  const { poller: p, answers, failures } = poller({ a, b, c });
  t.is(await p.next('a', '1', 1), 'a-1');
  t.is(await p.next('a', '2', 1), null);
  t.is(await p.next('b', '3', 3), 'b-1');
  t.is(await p.next('b', '4', 3), 'b-2');
  t.is(await p.next('c', '5', 1), null);
  t.deepEqual(
    answers.map(({ backend, slotId, found }) => ({ backend, slotId, found })),
    [
      { backend: 'a', slotId: '1', found: 1 },
      { backend: 'a', slotId: '2', found: 0 },
      { backend: 'b', slotId: '3', found: 2 },
    ],
    'one report per call: the batch once, the failed poll not at all',
  );
  t.true(answers[0]!.durationMs >= 15, `the slow poll took ${answers[0]!.durationMs} ms`);
  t.true(answers.every((answer) => answer.durationMs >= 0));
  t.is(failures.length, 1);
});
