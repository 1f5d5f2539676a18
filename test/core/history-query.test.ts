/** The history's shared rules: the outcome of an ended occupancy, and the query as stores receive it. */
import test from 'ava';
import { historyOutcome, normalizeHistoryQuery } from '../../src/contracts/history.js';

test('the outcome of an ended occupancy', (t) => {
  const cases: [Parameters<typeof historyOutcome>, ReturnType<typeof historyOutcome>][] = [
    [['stopped', null, null, false], 'succeeded'],
    [['stopped', 'succeeded', null, true], 'succeeded'],
    [['stopped', 'failed', null, false], 'failed'],
    [['stopped', null, 'boom', false], 'failed'],
    [['cancelled', 'failed', 'boom', false], 'cancelled'],
    [['start_failed', null, null, false], 'failed'],
    [['timeout', null, null, false], 'timed_out'],
    [['timeout', null, null, true], 'dropped'],
    [['max_runtime', null, null, true], 'timed_out'],
    [['dropped', 'succeeded', null, false], 'dropped'],
    [['backend_removed', null, null, false], 'dropped'],
    [['lost', null, null, false], 'dropped'],
  ];
  for (const [args, outcome] of cases) t.is(historyOutcome(...args), outcome, JSON.stringify(args));
});

test('a query reads as lists, null for unset, times in ms, limit 100 unless given', (t) => {
  t.deepEqual(normalizeHistoryQuery(), {
    taskId: null,
    outcome: null,
    reason: null,
    status: null,
    backend: null,
    slotId: null,
    owner: null,
    startedAfter: null,
    startedBefore: null,
    endedAfter: null,
    endedBefore: null,
    limit: 100,
  });
  t.like(
    normalizeHistoryQuery({ taskId: 'a', outcome: [], backend: ['x', 'y'], startedAfter: new Date(5), endedBefore: 9, limit: 10_000 }),
    {
      taskId: ['a'],
      outcome: [],
      backend: ['x', 'y'],
      startedAfter: 5,
      endedBefore: 9,
      limit: 10_000,
    },
  );
});
