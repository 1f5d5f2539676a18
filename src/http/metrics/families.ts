/**
 * The metric families of task-semaphore in one registry, under one prefix: their names, types,
 * labels, help and buckets, written once here (README's "Metrics" table lists the same). Every
 * scheduler that reports to the registry shares them, told apart by the label `scheduler`.
 */
import { Counter, Gauge, Histogram, type Metric, type Registry } from 'prom-client';
import { ConfigError } from '../../core/errors.js';

/** Histogram buckets, in seconds or counts: from a Redis round trip on the same host to a slow poll. */
const buckets = {
  store: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  poll: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  round: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  polls: [0, 1, 2, 4, 8, 16, 32, 64, 128, 256],
};

/** The label names of each family: `scheduler` (the name) first in each, and never a task id. */
const by = {
  name: ['scheduler'],
  backend: ['scheduler', 'backend'],
  reason: ['scheduler', 'backend', 'reason'],
  callback: ['scheduler', 'backend', 'callback'],
  slotClass: ['scheduler', 'slot_class'],
  slotBackend: ['scheduler', 'slot_class', 'backend'],
  slotStatus: ['scheduler', 'slot_class', 'backend', 'status'],
  method: ['scheduler', 'slot_class', 'method'],
  read: ['scheduler', 'read'],
  round: ['scheduler', 'round'],
} as const;

/**
 * Makes the families and registers them in `registry`, all or none: a name the registry already
 * holds (another library's metric) is a ConfigError. Every family awaits `collect` at scrape time,
 * which fills the gauges read from the stores; prom-client asks all metrics at once, so they share
 * one reading, and the counters then show the calls and errors of that reading too: one
 * consistent picture per scrape.
 * @returns the families, and `unregister`, which takes them all out of the registry
 */
export function registerFamilies(registry: Registry, prefix: string, collect: () => Promise<void>) {
  const all = new Map<string, Metric>();
  const add = <M extends Metric>(name: string, metric: M): M => {
    all.set(prefix + name, metric);
    return metric;
  };
  const common = (name: string, help: string) => ({ name: prefix + name, help, registers: [], collect });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    add(name, new Gauge<L>({ ...common(name, help), labelNames }));
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    add(name, new Counter<L>({ ...common(name, help), labelNames }));
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], bucketList: number[]) =>
    add(name, new Histogram<L>({ ...common(name, help), labelNames, buckets: bucketList }));

  const families = {
    slots: gauge('slots', 'Slots of the scheduler name in its stores, by status (idle, reserved, running).', by.slotStatus),
    slotsOverdue: gauge('slots_overdue', 'Running slots past their deadline or max runtime, not yet reaped.', by.slotBackend),
    keepaliveAgeMax: gauge(
      'keepalive_age_max_seconds',
      "Age of the oldest last keepalive among the running tasks, on the store's clock.",
      by.slotBackend,
    ),
    historyRecords: gauge('history_records', 'History records the store keeps for the name (a bounded count).', by.slotClass),
    scrapeErrors: counter('scrape_errors_total', 'Scrapes that could not read the stores: an error, or too slow.', by.read),
    tasksStarted: counter('tasks_started_total', 'Tasks started by this process.', by.backend),
    tasksEnded: counter('tasks_ended_total', 'Task ends whose callbacks ran in this process, by end reason.', by.reason),
    taskTimeouts: counter('task_timeouts_total', 'Timeouts (timeout, max_runtime) delivered in this process.', by.reason),
    tasksRejected: counter('tasks_rejected_total', 'Polled task ids not started, handed back, by reason.', by.reason),
    pollDuration: histogram('poll_duration_seconds', 'Backend polls that answered, by duration.', by.backend, buckets.poll),
    pollsEmpty: counter('polls_empty_total', 'Backend polls that answered with no task id.', by.backend),
    pollErrors: counter('poll_errors_total', 'Backend polls that threw, hung or returned a bad value.', by.backend),
    callbackErrors: counter('callback_errors_total', 'Backend callbacks that threw, rejected or hung.', by.callback),
    roundDuration: histogram(
      'round_duration_seconds',
      'Passes (round="pass") and refill rounds of the slots freed here (round="refill"), by duration.',
      by.round,
      buckets.round,
    ),
    roundPolls: histogram('round_polls', 'Backend polls made per pass or refill round.', by.round, buckets.polls),
    passErrors: counter('pass_errors_total', 'Passes and refill rounds the scheduler started itself that failed.', by.name),
    storeCallDuration: histogram(
      'store_call_duration_seconds',
      'Calls to the slot stores (one round trip each, but init and history), by duration.',
      by.method,
      buckets.store,
    ),
    storeErrors: counter('store_errors_total', 'Calls to the slot stores that failed.', by.method),
  };

  const taken = [...all.keys()].find((name) => registry.getSingleMetric(name) !== undefined);
  if (taken !== undefined) {
    throw new ConfigError(
      'collectMetrics(options.prefix)',
      prefix,
      `allowed: a prefix none of the registry's metrics has: it already has ${taken}, which is not task-semaphore's`,
    );
  }
  for (const metric of all.values()) registry.registerMetric(metric);
  return {
    ...families,
    /** Adds the counts kept in plain numbers to their counters (see pending-counts.ts): run by each scrape. */
    pendingCounts: new Set<() => void>(),
    unregister(): void {
      for (const name of all.keys()) registry.removeSingleMetric(name);
    },
  };
}

/** The families of one registry and prefix. */
export type MetricFamilies = ReturnType<typeof registerFamilies>;
