/**
 * Fault 3b: the store frozen (every process SIGSTOPped) past the timeout, its connections left
 * open and unanswered, then resumed. Tasks cut off from it are told before their slot could be
 * reaped, so no execution overlaps another when it comes back.
 */
import test from 'ava';
import { ciFaultTests } from './ci.js';

ciFaultTests(
  test,
  ['freeze'],
  (store) =>
    `${store}: a frozen store (half-open connections) past the timeout: cut-off tasks are told before their slot is reaped, the bound holds, N again after the thaw`,
);
