/**
 * Fault 2: a process stopped (SIGSTOP) longer than the timeout then resumed, and a task that
 * blocks its process's event loop as long. The fleet reaps their slots meanwhile; on waking each
 * task stops at its first look (or, not judged by its process, once told), so the only extra
 * executions are the stalled ones, counted apart with their overrun.
 */
import test from 'ava';
import { ciFaultTests } from './ci.js';

ciFaultTests(
  test,
  ['stop', 'block'],
  (store) =>
    `${store}: SIGSTOP and a blocked event loop past the timeout: woken tasks stop at their first look, the bound holds, nothing is lost or run twice`,
);
