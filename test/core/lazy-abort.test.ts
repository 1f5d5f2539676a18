import test from 'ava';
import { LazyAbortController } from '../../src/core/lazy-abort.js';

test('a signal read before the abort fires its listeners once, with the first reason', (t) => {
  const controller = new LazyAbortController();
  const signal = controller.signal;
  const reasons: unknown[] = [];
  signal.addEventListener('abort', () => reasons.push(signal.reason));
  t.false(controller.aborted);
  controller.abort(new Error('first'));
  controller.abort(new Error('second'));
  t.true(controller.aborted);
  t.is(reasons.length, 1);
  t.is((reasons[0] as Error).message, 'first');
  t.is(controller.signal, signal, 'one signal for the life of the controller');
});

test('a signal first read after the abort is born aborted, with the reason given', (t) => {
  const controller = new LazyAbortController();
  const reason = new Error('cancelled before anyone looked');
  controller.abort(reason);
  t.true(controller.signal.aborted);
  t.is(controller.signal.reason, reason);
});
