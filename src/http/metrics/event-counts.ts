/**
 * The counters and histograms fed by a scheduler's events, as they happen: tasks started and
 * ended, timeouts, rejections, polls, rounds, store calls and the errors of each.
 */
import type { PassReport } from '../../contracts/results.js';
import type { SchedulerEvents } from '../../scheduler/events.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { StoreCall } from '../../scheduler/timed-store.js';
import type { MetricFamilies } from './families.js';

type Listeners = { [K in keyof SchedulerEvents]?: (...args: SchedulerEvents[K]) => void };

/**
 * Listens to `scheduler`'s events and counts them in `families` under its name; returns what
 * stops listening. Listeners must never throw (the scheduler would log it on every event): the
 * values they record are numbers it computed itself.
 */
export function countEvents(scheduler: Scheduler, families: MetricFamilies): () => void {
  const schedulerName = scheduler.name;
  const f = families;
  // Label objects are made once per combination: tasks and store calls are the hot path.
  const byBackend = labelSets((backend) => ({ scheduler: schedulerName, backend }));
  const byReason = labelSets((backend, reason) => ({ scheduler: schedulerName, backend, reason }));
  const byRound = labelSets((round) => ({ scheduler: schedulerName, round }));
  const byMethod = labelSets((slotClass, method) => {
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
    'task:start': (occupancy) => f.tasksStarted.inc(byBackend(occupancy.backend)),
    'task:stop': (ended) => f.tasksEnded.inc(byReason(ended.backend, ended.reason)),
    'task:timeout': (ended) => f.taskTimeouts.inc(byReason(ended.backend, ended.reason)),
    'task:reject': (info) => f.tasksRejected.inc(byReason(info.backend, info.reason)),
    'poll:end': (end) => {
      f.pollDuration.observe(byBackend(end.backend), end.durationMs / 1000);
      if (end.found === 0) f.pollsEmpty.inc(byBackend(end.backend));
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
  return () => {
    for (const [event, listener] of entries) scheduler.off(event, listener as never);
  };
}

/**
 * A function that returns the label object `make` builds for its arguments, made once per
 * combination of them and reused after (the values come from configs and enums: few of them).
 */
function labelSets<L>(make: (a: string, b: string) => L): (a: string, b?: string) => L {
  const made = new Map<string, Map<string, L>>();
  return (a, b = '') => {
    let inner = made.get(a);
    if (!inner) made.set(a, (inner = new Map()));
    let labels = inner.get(b);
    if (!labels) inner.set(b, (labels = make(a, b)));
    return labels;
  };
}
