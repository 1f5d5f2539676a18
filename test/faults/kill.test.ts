/**
 * Fault 1: kill -9 of scheduler processes, at random moments (mostly mid-task) or at a chosen
 * phase (mid-poll with a task claimed, between the store's start and startCallback, mid-stop);
 * replacements start. The slots of the dead come back within a timeout (or process lease) and a
 * pass, their tasks run again once, and the bound holds throughout.
 */
import test from 'ava';
import { ciFaultTests } from './ci.js';

ciFaultTests(
  test,
  ['kill'],
  (store) =>
    `${store}: kill -9 of schedulers at any phase: never more tasks than slots, each task done once, each occupancy ended once, N again within a timeout and a pass`,
  (t, { report }) => {
    t.true(report.figures.processesKilled > 0);
    // The slots the dead held were reaped elsewhere, as timeouts.
    t.true((report.figures.stopCallbacks.timeout ?? 0) > 0);
  },
);
