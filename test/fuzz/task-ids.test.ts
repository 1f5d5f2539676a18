/**
 * Fuzzed task ids through a scheduler on each built-in slot kind (memory, Redis, PostgreSQL). The
 * conformance suites hold every store to fixed samples (src/testing/task-id-samples.ts); here
 * fast-check adds random ones. An id the grammar allows (src/contracts/task-id.ts) starts, renews, is
 * inspected, cancelled and stopped unchanged, in the scheduler's events too, as a different task
 * from an id that differs only by case, normalisation or whitespace, and without touching another
 * task of the store. An id it refuses gets a TaskIdError naming the rule from keepalive, stop and
 * cancel, and goes back to a polling backend as `invalid_id`.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { maxTaskIdBytes, taskIdProblem } from '../../src/contracts/task-id.js';
import type { Occupancy } from '../../src/contracts/store.js';
import { TaskAbortedError, TaskIdError } from '../../src/core/errors.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import { harness, ScriptedBackend, waitFor, type SlotKind } from '../../src/testing/scheduler-kit.js';
import { builtInSlotKinds, closeSlotKinds } from '../helpers/slot-kinds.js';
import { fuzzParameters, metaString, oddString } from './fuzz-kit.js';

test.after.always(closeSlotKinds);

/** Characters of 1 to 4 UTF-8 bytes, to build ids at the byte limit. */
const wideCharacter = fc.constantFrom('a', 'é', '€', '😀', "'", '%', '{', '}');

/** An id of about `maxTaskIdBytes` bytes: just under, at, or just over the limit. */
const edgeId = fc.tuple(fc.array(wideCharacter, { minLength: 1, maxLength: 4 }), fc.integer({ min: -4, max: 4 })).map(([unit, delta]) => {
  let id = '';
  const text = unit.join('');
  while (Buffer.byteLength(id + text) <= maxTaskIdBytes + delta) id += text;
  return id || text;
});

/** Ids of every kind: metacharacters, any unicode, raw UTF-16 with lone surrogates and NUL, the byte edge. */
const taskId = fc.oneof(
  { arbitrary: metaString(8), weight: 3 },
  { arbitrary: oddString(1100), weight: 3 },
  { arbitrary: edgeId, weight: 1 },
);

/** Other spellings of an id that a careless store might take for the same (or that mean something to it). */
const variants = (id: string) => [
  id.toUpperCase(),
  id.toLowerCase(),
  id.normalize('NFC'),
  id.normalize('NFD'),
  `${id} `,
  ` ${id}`,
  `${id}%`,
];

/** A scheduler of two slots with a backend that starts the ids queued for it, and a sentinel task held in one. */
async function setup(t: ExecutionContext, kind: SlotKind) {
  const h = await harness(t, kind);
  const backend = new ScriptedBackend(['sentinel']);
  const scheduler = h.scheduler({ A: backend });
  const started: Occupancy[] = [];
  const stopped: string[] = [];
  scheduler.on('task:start', (occupancy) => started.push(occupancy));
  scheduler.on('task:stop', (ended) => stopped.push(ended.taskId));
  await scheduler.load([1, 2, 3].map((slotId) => ({ slotId, backends: ['A'], timeout: '1m' })));
  await scheduler.schedule();
  const sentinel = await holder(scheduler, 'sentinel');
  return { scheduler, backend, started, stopped, sentinel };
}

/** The occupancy `inspect()` lists for `taskId`, or undefined. */
async function holder(scheduler: Scheduler, taskId: string): Promise<Occupancy | undefined> {
  return (await scheduler.inspect()).find((slot) => slot.occupancy?.taskId === taskId)?.occupancy ?? undefined;
}

/** Throws (for fast-check to report) unless `check` holds. */
function must(check: boolean, what: string): void {
  if (!check) throw new Error(what);
}

for (const kind of builtInSlotKinds) {
  test(`${kind.label}: fuzzed ids outside the grammar get TaskIdError from every entry point and go back as invalid_id`, async (t) => {
    const { scheduler, backend, sentinel } = await setup(t, kind);
    const invalid = taskId.filter((id) => taskIdProblem(id) !== null);
    await fc.assert(
      fc.asyncProperty(invalid, async (id) => {
        const problem = taskIdProblem(id)!;
        for (const call of [() => scheduler.keepalive(id), () => scheduler.stop(id), () => scheduler.cancel(id)]) {
          const error = await call().then(
            () => undefined,
            (thrown: unknown) => thrown,
          );
          must(error instanceof TaskIdError, `not a TaskIdError: ${String(error)}`);
          const { message, problem: named, code } = error as TaskIdError;
          must(code === 'ERR_TASK_ID' && named === problem && message.includes(problem), `does not name the rule "${problem}": ${message}`);
          must(message.length < 400, `a message of ${message.length} characters`);
        }
        // An empty poll result means "nothing to run", not an id.
        if (id === '') return;
        const rejectedBefore = backend.rejected.length;
        backend.queue.push(id);
        await scheduler.schedule();
        must(backend.rejected.length === rejectedBefore + 1, 'the id did not go back to the backend');
        const { taskId: rejected, info } = backend.rejected.at(-1)!;
        must(rejected === id && info.reason === 'invalid_id', `went back as ${info.reason}`);
      }),
      fuzzParameters(25),
    );
    t.deepEqual(await holder(scheduler, 'sentinel'), sentinel, 'the sentinel task is untouched');
  });

  test(`${kind.label}: fuzzed ids inside the grammar start, renew, cancel and stop unchanged, apart from look-alikes and other tasks`, async (t) => {
    const { scheduler, backend, started, stopped, sentinel } = await setup(t, kind);
    const valid = taskId.filter((id) => taskIdProblem(id) === null && id !== 'sentinel');
    await fc.assert(
      fc.asyncProperty(valid, fc.nat(), async (id, pick) => {
        // A look-alike that the grammar allows and that differs from the id: both must run side by side.
        const others = variants(id).filter((v) => v !== id && v !== 'sentinel' && taskIdProblem(v) === null);
        const twin = others[pick % Math.max(1, others.length)];
        const ids = twin === undefined ? [id] : [id, twin];
        backend.queue.push(...ids);
        await scheduler.schedule();
        for (const each of ids) {
          must(
            backend.started.some((s) => s.taskId === each),
            `did not start: ${JSON.stringify(each)}`,
          );
          must(
            started.some((o) => o.taskId === each),
            'no task:start event with the id',
          );
          must((await holder(scheduler, each))?.taskId === each, 'inspect does not list the id');
          const renewed = await scheduler.keepalive(each);
          must(renewed.ok, `keepalive: ${JSON.stringify(renewed)}`);
        }
        const cancelled = await scheduler.cancel(id);
        must(cancelled.ok, `cancel: ${JSON.stringify(cancelled)}`);
        const reason: unknown = backend.contexts.get(id)!.signal.reason;
        must(reason instanceof TaskAbortedError && reason.abortCause === 'cancel_requested', `the signal fired with ${String(reason)}`);
        if (twin !== undefined) must(!backend.contexts.get(twin)!.signal.aborted, 'the cancel reached the look-alike');
        for (const each of ids) {
          const result = await scheduler.stop(each);
          must(result.ok, `stop: ${JSON.stringify(result)}`);
        }
        await waitFor(() => ids.every((each) => stopped.includes(each)), 'task:stop events with the ids');
        must(
          ids.every((each) => backend.stopped.some((s) => s.taskId === each)),
          'stopCallback did not get the ids',
        );
        must(JSON.stringify(await holder(scheduler, 'sentinel')) === JSON.stringify(sentinel), 'the sentinel task changed');
        // Each stop kept its slot for a refill, which finds nothing and releases it: wait for that.
        await waitFor(
          async () => (await scheduler.inspect()).filter((slot) => slot.status === 'idle').length === 2,
          'the two slots to be idle again',
        );
        backend.started.length = 0;
        backend.stopped.length = 0;
        backend.contexts.clear();
        started.length = 0;
        stopped.length = 0;
      }),
      fuzzParameters(25, { stateful: true }),
    );
    t.like(await scheduler.keepalive('sentinel'), { ok: true });
  });
}
