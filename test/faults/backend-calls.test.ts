/**
 * Fault 4: backend code that misbehaves: polls that settle past pollTimeout, hang (for ever, or
 * until their signal fires), throw or reject; start, stop and reject callbacks that settle past
 * callbackTimeout, hang, throw or reject. Each is reported (`poll:error`, `callback:error`); a
 * failed start ends `start_failed` with its task told and the task runs again; a stop callback that
 * failed counts as delivered; the bound holds and nothing is lost or run twice.
 */
import test from 'ava';
import { ciFaultTests } from './ci.js';

ciFaultTests(
  test,
  ['poll', 'callback'],
  (store) =>
    `${store}: slow, hanging and throwing polls and callbacks: reported, a failed start ends start_failed and runs again, the bound holds, nothing lost or run twice`,
  (t, { report }) => {
    const { faults } = report.figures;
    t.true(Object.keys(faults).some((kind) => kind.startsWith('poll:')));
    t.true(Object.keys(faults).some((kind) => kind.startsWith('callback:')));
  },
);
