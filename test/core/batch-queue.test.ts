import test from 'ava';
import { BatchQueue } from '../../src/core/batch-queue.js';

/** A batch runner whose batches the test releases one by one. */
function gatedRunner() {
  const batches: number[][] = [];
  const gates: Array<() => void> = [];
  const run = async (items: number[]) => {
    batches.push(items);
    await new Promise<void>((resolve) => gates.push(resolve));
    if (items.includes(13)) throw new Error('13 is bad');
    return items.map((n) => n * 10);
  };
  const open = async () => {
    while (gates.length === 0) await new Promise((resolve) => setImmediate(resolve));
    gates.shift()!();
  };
  return { batches, run, open };
}

test('items pushed in one tick go together at once; items that arrive meanwhile go together next, in order', async (t) => {
  const { batches, run, open } = gatedRunner();
  const queue = new BatchQueue(run);
  const first = Promise.all([queue.push(0), queue.push(1)]).then(([, one]) => one);
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(batches, [[0, 1]]);
  const rest = [queue.push(2), queue.push(3), queue.push(4)];
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(batches, [[0, 1]], 'nothing else runs while a batch is in flight');
  await open();
  t.is(await first, 10);
  await open();
  t.deepEqual(await Promise.all(rest), [20, 30, 40]);
  t.deepEqual(batches, [
    [0, 1],
    [2, 3, 4],
  ]);
  await queue.drained();
});

test('with two lanes, the items of one tick are spread over both at once; later items wait for a free lane', async (t) => {
  const { batches, run, open } = gatedRunner();
  const queue = new BatchQueue(run, 2);
  const first = [1, 2, 3, 4, 5].map((n) => queue.push(n));
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(batches, [
    [1, 2, 3],
    [4, 5],
  ]);
  const later = [queue.push(6), queue.push(7)];
  await new Promise((resolve) => setImmediate(resolve));
  t.is(batches.length, 2, 'both lanes busy: the later items wait');
  await open();
  t.deepEqual(await Promise.all(first.slice(0, 3)), [10, 20, 30]);
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(batches[2], [6, 7], 'the lane freed takes every item waiting');
  await open();
  await open();
  t.deepEqual(await Promise.all([...first, ...later]), [10, 20, 30, 40, 50, 60, 70]);
  let drained = false;
  const draining = queue.drained().then(() => (drained = true));
  await new Promise((resolve) => setImmediate(resolve));
  t.true(drained);
  await draining;
});

test('a failed batch runs again item by item: only the item at fault sees the error', async (t) => {
  const { batches, run, open } = gatedRunner();
  const queue = new BatchQueue(run);
  const first = queue.push(1);
  await new Promise((resolve) => setImmediate(resolve));
  const rest = [queue.push(12), queue.push(13), queue.push(14)].map((p) =>
    p.then(
      (v) => ({ v }),
      (e: Error) => ({ e: e.message }),
    ),
  );
  for (let i = 0; i < 5; i++) await open();
  t.is(await first, 10);
  t.deepEqual(await Promise.all(rest), [{ v: 120 }, { e: '13 is bad' }, { v: 140 }]);
  t.deepEqual(batches, [[1], [12, 13, 14], [12], [13], [14]]);
  await queue.drained();
});
