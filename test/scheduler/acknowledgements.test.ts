/**
 * Acknowledgements of delivered ends ride on the next ends sent to the same store, and go alone
 * only when no end comes soon: a busy scheduler pays no round trip for them.
 */
import test from 'ava';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemorySlotStore } from '../../slots/memory/index.js';
import type { DeliveryRef, EndRequest } from '../../src/contracts/store.js';
import { Acknowledgements } from '../../src/scheduler/acknowledgements.js';

/** A memory store that records its `acknowledge` calls and the acknowledgements its ends carried. */
function recordingStore() {
  const store = new MemorySlotStore();
  const alone: DeliveryRef[][] = [];
  const carried: DeliveryRef[][] = [];
  const acknowledge = store.acknowledge.bind(store);
  store.acknowledge = async (refs) => {
    alone.push([...refs]);
    await acknowledge(refs);
  };
  const end = (request: EndRequest) => {
    carried.push([...(request.acknowledge ?? [])]);
    return store.end(request);
  };
  return { store, alone, carried, end };
}

const ref = (n: number): DeliveryRef => ({ taskId: `task-${n}`, token: n });
const request = (): EndRequest => ({ taskId: 'task-x', reason: 'stopped', deliverable: [] });

test('pending acknowledgements ride on the next end to their store, and no acknowledge call is made', async (t) => {
  const { store, alone, carried, end } = recordingStore();
  const acks = new Acknowledgements(() => t.fail('no error expected'));
  acks.push(store, ref(1));
  acks.push(store, ref(2));
  const sent = request();
  t.deepEqual(await acks.carry(store, [sent, request()], () => end(sent)), { ok: false, reason: 'unknown' });
  t.deepEqual(carried, [[ref(1), ref(2)]]);
  t.is(sent.acknowledge, undefined, 'the request is left as it was given');
  await sleep(60); // past the delay after which they would have gone alone
  await acks.flush();
  t.deepEqual(alone, [], 'nothing left to send alone');
  t.deepEqual(await acks.carry(store, [request()], () => end(request())), { ok: false, reason: 'unknown' });
  t.deepEqual(carried, [[ref(1), ref(2)], []], 'carried once');
});

test('without an end soon, pending acknowledgements go alone in one call; flush sends them at once', async (t) => {
  const { store, alone } = recordingStore();
  const acks = new Acknowledgements(() => t.fail('no error expected'));
  acks.push(store, ref(1));
  acks.push(store, ref(2));
  while (alone.length === 0) await sleep(5);
  t.deepEqual(alone, [[ref(1), ref(2)]]);
  acks.push(store, ref(3));
  await acks.flush();
  t.deepEqual(alone, [[ref(1), ref(2)], [ref(3)]]);
});

test('the acknowledgements of an end call that failed are queued again', async (t) => {
  const { store, alone } = recordingStore();
  const acks = new Acknowledgements(() => t.fail('no error expected'));
  acks.push(store, ref(1));
  await t.throwsAsync(
    acks.carry(store, [request()], () => Promise.reject(new Error('connection lost'))),
    { message: 'connection lost' },
  );
  await acks.flush();
  t.deepEqual(alone, [[ref(1)]]);
});

test('a failed acknowledge call is reported with its records; a store without acknowledge gets none', async (t) => {
  const { store } = recordingStore();
  store.acknowledge = () => Promise.reject(new Error('store down'));
  const failures: Array<[string, readonly DeliveryRef[]]> = [];
  const acks = new Acknowledgements((error, refs) => failures.push([(error as Error).message, refs]));
  acks.push(store, ref(1));
  await acks.flush();
  t.deepEqual(failures, [['store down', [ref(1)]]]);

  const plain = new MemorySlotStore();
  Object.defineProperty(plain, 'acknowledge', { value: undefined }); // as a store written before delivery logs
  acks.push(plain, ref(2));
  const sent = request();
  await acks.carry(plain, [sent], async () => t.is(sent.acknowledge, undefined));
  await acks.flush();
  t.is(failures.length, 1);
});

test('a failed acknowledge call is sent again, after a growing wait, until it gets through; none after flush', async (t) => {
  const { store } = recordingStore();
  const acknowledge = store.acknowledge.bind(store);
  const calls: number[] = [];
  let failuresLeft = 2;
  store.acknowledge = async (refs) => {
    calls.push(performance.now());
    if (failuresLeft-- > 0) throw new Error('store down');
    await acknowledge(refs);
  };
  const failures: string[] = [];
  const acks = new Acknowledgements((error) => failures.push((error as Error).message));
  acks.push(store, ref(1));
  for (let i = 0; i < 100 && calls.length < 3; i++) await sleep(10);
  t.is(calls.length, 3, 'sent again after each failure');
  t.deepEqual(failures, ['store down', 'store down']);
  // 100 ms, then 200 ms between the tries (timers fire no earlier than asked).
  t.true(calls[1]! - calls[0]! >= 99 && calls[2]! - calls[1]! >= 199, `waits ${calls[1]! - calls[0]!}, ${calls[2]! - calls[1]!} ms`);
  await acks.flush();
  t.is(calls.length, 3, 'acknowledged once it got through, and not sent again');

  // Once flushed (the scheduler closing), a failure is reported and left to redelivery.
  store.acknowledge = async () => {
    calls.push(performance.now());
    throw new Error('closed');
  };
  acks.push(store, ref(2));
  await acks.flush();
  await sleep(150);
  t.is(calls.length, 4);
  t.deepEqual(failures, ['store down', 'store down', 'closed']);
});
