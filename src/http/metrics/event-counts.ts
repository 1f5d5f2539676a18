/**
 * The counters and histograms fed by a scheduler's events, as they happen: tasks started and
 * ended, timeouts, rejections, polls, rounds, store calls and the errors of each.
 */
import type { PassReport } from '../../contracts/results.js';
import type { SchedulerEvents } from '../../scheduler/events.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { StoreCall } from '../../scheduler/timed-store.js';
import type { MetricFamilies } from './families.js';
import { PendingCounts } from './pending-counts.js';

type Listeners = { [K in keyof SchedulerEvents]?: (...args: SchedulerEvents[K]) => void };

/**
 * Listens to `scheduler`'s events and counts them in `families` under its name; returns what
 * stops listening. Listeners must never throw (the scheduler would log it on every event): the
 * values they record are numbers it computed itself.
 */
export function countEvents(scheduler: Scheduler, families: MetricFamilies): () => void {
  const schedulerName = scheduler.name;
  const f = families;
  // Label objects are made once per combination, and what happens once per task is counted in
  // plain numbers until a scrape: tasks and store calls are the hot path.
  const pending = new PendingCounts();
  const byBackend = madeOnce((backend) => ({ scheduler: schedulerName, backend }));
  const byReason = madeOnce((backend, reason) => ({ scheduler: schedulerName, backend, reason }));
  const byRound = madeOnce((round) => ({ scheduler: schedulerName, round }));
  const started = madeOnce((backend) => pending.of(f.tasksStarted, byBackend(backend)));
  const ended = madeOnce((backend, reason) => pending.of(f.tasksEnded, byReason(backend, reason)));
  const emptyPolls = madeOnce((backend) => pending.of(f.pollsEmpty, byBackend(backend)));
  const byMethod = madeOnce((slotClass, method) => {
    const labels = { scheduler: schedulerName, slot_class: slotClass, method };
    // At 0 from the first call: "no errors" reads as 0, not as absent.
    f.storeErrors.inc(labels, 0);
    return labels;
  });
  const onStoreCall = (call: StoreCall) => {
    const labels = byMethod(call.slotClass, call.method);
    f.storeCallDuration.observe(labels, call.durationMs / 1000);
    if (call.error) f.storeErrors.inc(labels);
  };
  const onRound = (round: string, report: PassReport) => {
    f.roundDuration.observe(byRound(round), report.durationMs / 1000);
    f.roundPolls.observe(byRound(round), report.polls);
  };
  const listeners: Listeners = {
    'task:start': (occupancy) => void started(occupancy.backend).n++,
    'task:stop': (end) => void ended(end.backend, end.reason).n++,
    'task:timeout': (ended) => f.taskTimeouts.inc(byReason(ended.backend, ended.reason)),
    'task:reject': (info) => f.tasksRejected.inc(byReason(info.backend, info.reason)),
    'poll:end': (end) => {
      f.pollDuration.observe(byBackend(end.backend), end.durationMs / 1000);
      if (end.found === 0) emptyPolls(end.backend).n++;
    },
    'poll:error': (info) => f.pollErrors.inc(byBackend(info.backend)),
    'callback:error': (info) => f.callbackErrors.inc({ scheduler: schedulerName, backend: info.backend, callback: info.callback }),
    'pass:end': (report) => onRound('pass', report),
    'refill:end': (report) => onRound('refill', report),
    'pass:error': () => f.passErrors.inc({ scheduler: schedulerName }),
    'store:call': onStoreCall,
  };
  // Present from the start: an alert on pass errors needs a series at 0 before the first one.
  f.passErrors.inc({ scheduler: schedulerName }, 0);
  const entries = Object.entries(listeners) as Array<[keyof SchedulerEvents, (...args: unknown[]) => void]>;
  for (const [event, listener] of entries) scheduler.on(event, listener as never);
  f.pendingCounts.add(pending.flush);
  return () => {
    for (const [event, listener] of entries) scheduler.off(event, listener as never);
    pending.flush();
    f.pendingCounts.delete(pending.flush);
  };
}

/**
 * A function that returns what `make` builds for its arguments, made once per combination of them
 * and reused after (label values come from configs and enums: there are few of them).
 */
function madeOnce<L>(make: (a: string, b: string) => L): (a: string, b?: string) => L {
  const made = new Map<string, Map<string, L>>();
  return (a, b = '') => {
    let inner = made.get(a);
    if (!inner) made.set(a, (inner = new Map()));
    let labels = inner.get(b);
    if (!labels) inner.set(b, (labels = make(a, b)));
    return labels;
  };
}
