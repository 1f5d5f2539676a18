/**
 * Fault 3a: the store restarted under the fleet. Redis without persistence comes back empty: the
 * tasks running across it learn that they lost their slot (their end says `lost`) and the overlap
 * until they do is counted apart, as the README documents. PostgreSQL, stopped fast or immediately,
 * loses nothing: no end says `lost`, and no overlap is excused.
 */
import test from 'ava';
import { ciFaultTests } from './ci.js';

ciFaultTests(
  test,
  ['restart'],
  (store) =>
    store === 'redis'
      ? 'redis: restarts without persistence: running tasks learn they lost their slot, each task done once, N again within a timeout and a pass'
      : 'postgres: fast and immediate restarts lose no slot: no end says lost, the bound holds, each task done once',
  (t, { scenario, report }) => {
    const lost = report.figures.stopCallbacks.lost ?? 0;
    if (scenario.store === 'redis') t.true(lost > 0, 'the tasks running across a restart ended lost');
    else t.is(lost, 0);
  },
);
