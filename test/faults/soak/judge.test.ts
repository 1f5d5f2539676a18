/**
 * The soak's judge on hand-made samples: a steady fleet with noise is flat; a heap that climbs by
 * a little with every sample, handles left open once idle, errors that keep coming and a store
 * table that keeps growing each fail, naming the figure.
 */
import test from 'ava';
import type { EventOf, JournalEvent } from '../harness/events.js';
import { judgeSoak } from './judge.js';

const worker = 10;
const harness = 1;

interface Shape {
  /** Heap after GC at second `s` of the feed. */
  heap?: (s: number) => number;
  /** Open timers at second `s` (negative: before the feed; past 60: idle). */
  timers?: (s: number) => number;
  /** Errors so far at second `s`. */
  errors?: (s: number) => number;
  /** Rows of the deliveries table at second `s`. */
  deliveries?: (s: number) => number;
  /** Tasks under way at second `s`. */
  running?: (s: number) => number;
}

/** A 60 s soak sampled every 2 s from 4 s before the feed to 10 s after it (idle from 64 s). */
function journal(shape: Shape = {}): JournalEvent[] {
  const {
    heap = (s) => 12e6 + ((s * 7919) % 13) * 10_000,
    timers = (s) => (s < 0 || s > 62 ? 3 : 40 + (s % 7)),
    errors = () => 0,
    deliveries = (s) => 5 + (s % 3),
    running = () => 40,
  } = shape;
  const events: JournalEvent[] = [];
  const at = (s: number) => (s + 100) * 1e9;
  events.push({ t: at(0), pid: harness, ev: 'feed', taskIds: ['t1'] });
  events.push({ t: at(60), pid: harness, ev: 'feed-stop' });
  events.push({ t: at(64), pid: harness, ev: 'idle' });
  for (let s = -4; s <= 70; s += 2) {
    const sample: EventOf<'sample'> = {
      t: at(s) + 1,
      pid: worker,
      ev: 'sample',
      heapUsed: heap(s),
      rss: 80e6,
      external: 2e6,
      arrayBuffers: 1e5,
      handles: { TCPSocketWrap: 3, Timeout: timers(s) },
      errors: { pass: errors(s), poll: 0, callback: 0 },
      tasksStarted: Math.max(0, s) * 10,
      running: running(s),
    };
    events.push(sample);
    events.push({
      t: at(s) + 2,
      pid: harness,
      ev: 'store-sample',
      figures: { 'rows:task_semaphore_deliveries': deliveries(s), 'bytes:task_semaphore_deliveries': 8192 * (s + 10) },
    });
  }
  return events.sort((a, b) => a.t - b.t);
}

const judge = (events: JournalEvent[]) => judgeSoak(events, { warmupMs: 15_000 });

test('a steady fleet with noise is flat; bytes are reported, not judged', (t) => {
  const verdict = judge(journal());
  t.deepEqual(verdict.failures, []);
  t.deepEqual(verdict.window, { fromMs: 15_000, toMs: 60_000 });
  t.true(verdict.checks.some((c) => c.what.includes('heap')));
  t.false(verdict.checks.some((c) => c.what.includes('bytes:')));
});

test('a heap that grows 40 KB a second (a record kept per task) is not flat', (t) => {
  const verdict = judge(journal({ heap: (s) => 12e6 + Math.max(0, s) * 40_000 }));
  t.is(verdict.failures.length, 1);
  t.regex(verdict.failures[0]!, /heap after GC/);
});

test('a heap that rises with the tasks under way (a fleet still ramping up) is flat; a leak on top of it is not', (t) => {
  const running = (s: number) => Math.min(160, 40 + 2 * Math.max(0, s));
  const heap = (s: number) => 11e6 + running(s) * 20_000 + ((s * 7919) % 13) * 10_000;
  t.deepEqual(judge(journal({ running, heap })).failures, [], 'about 45 tasks more between the thirds, 900 KB more');
  const leaking = judge(journal({ running, heap: (s) => heap(s) + Math.max(0, s) * 40_000 }));
  t.is(leaking.failures.length, 1);
  t.regex(leaking.failures[0]!, /heap after GC/);
});

test('timers left open once idle are not flat, though they are not judged while tasks run', (t) => {
  const verdict = judge(journal({ timers: (s) => (s < 0 ? 3 : 3 + Math.min(s, 60) * 5) }));
  t.is(verdict.failures.length, 1);
  t.regex(verdict.failures[0]!, /open Timeout once idle/);
});

test('errors that keep coming in the last third fail; errors that stopped do not', (t) => {
  t.regex(judge(journal({ errors: (s) => Math.max(0, s) })).failures.join(), /errors/);
  t.deepEqual(judge(journal({ errors: (s) => Math.min(Math.max(0, s), 20) })).failures, []);
});

test('a store table that keeps growing is not flat', (t) => {
  const verdict = judge(journal({ deliveries: (s) => 5 + Math.max(0, s) * 10 }));
  t.is(verdict.failures.length, 1);
  t.regex(verdict.failures[0]!, /rows:task_semaphore_deliveries/);
});

test('a journal without a feed cannot be judged', (t) => {
  t.throws(() => judge(journal().filter((e) => e.ev !== 'feed')), { message: /no feed/ });
});
