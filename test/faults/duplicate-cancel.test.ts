/**
 * Fault 5: polls that return the id of a task holding a slot (in another process or this one),
 * and cancels from a process of the harness's own, of running tasks, of ids fed earlier and of ids
 * never fed. The store refuses the duplicate (`duplicate`, with `retryAfterMs`) and the holder's
 * claim is left alone; a cancelled task is told (`cancel_requested`), ends `cancelled` and is
 * accounted for, never run again; every cancel answers as README says.
 */
import test from 'ava';
import { ciFaultTests } from './ci.js';

ciFaultTests(
  test,
  ['duplicate', 'cancel'],
  (store) =>
    `${store}: polls returning ids that run elsewhere and remote cancels: duplicates refused, cancelled tasks end cancelled and never run again`,
  (t, { report }) => {
    // Some cancel reached a running task, which honoured it.
    t.true(report.figures.cancelled > 0);
    t.true((report.figures.stopCallbacks.cancelled ?? 0) > 0);
  },
);
