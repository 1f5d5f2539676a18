/**
 * Prometheus metrics of a Scheduler, in a prom-client registry: counters and histograms fed by its
 * events as they happen, gauges read from its stores at scrape time. What `/metrics` serves, and
 * what a program with a registry of its own calls. Every metric is listed in README ("Metrics").
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import * as z from 'zod/mini';
import type { Duration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import { duration, flag, parseOptions, shaped, strictObject, text } from '../core/option-schema.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { countEvents } from './metrics/event-counts.js';
import { registerFamilies, type MetricFamilies } from './metrics/families.js';
import { StoreGauges } from './metrics/store-gauges.js';

/** Options of {@link collectMetrics}. */
export interface MetricsOptions {
  /**
   * The prom-client registry to register the metrics in: yours, to serve them beside your own.
   * Several schedulers (of different names) may report to one registry.
   * @defaultValue a new `Registry`
   */
  registry?: Registry;
  /**
   * Prepended to the name of every metric of the scheduler.
   * @defaultValue `'task_semaphore_'`
   */
  prefix?: string;
  /**
   * Also register prom-client's default metrics of the process (`process_cpu_seconds_total`,
   * `nodejs_heap_size_used_bytes`, …), under their usual names (no prefix), once per registry.
   * @defaultValue `false`
   */
  defaultMetrics?: boolean;
  /**
   * How long a scrape waits for the stores (`inspect()`, `historySize()`): past it, or when they
   * fail, the gauges read from them are left out of that scrape and `scrape_errors_total` counts
   * it. Keep it under Prometheus's `scrape_timeout` (10 s by default).
   * @defaultValue `'5s'`
   */
  scrapeTimeout?: Duration;
}

/** What {@link collectMetrics} returns. */
export interface SchedulerMetrics {
  /** The registry the metrics are in: serve `await registry.metrics()` (content type `registry.contentType`). */
  registry: Registry;
  /**
   * Stops counting the scheduler's events and reading its stores; idempotent. Its counters stay in
   * the registry, at their last values, until the last scheduler reporting to the registry under
   * this prefix closes: then the metrics leave the registry.
   */
  close(): void;
}

export const metricsDefaults = Object.freeze({
  prefix: 'task_semaphore_',
  defaultMetrics: false,
  scrapeTimeout: '5s',
} satisfies Partial<MetricsOptions>);

/** A prom-client Registry, by its shape: the user's copy of prom-client may not be ours. */
function isRegistry(value: unknown): boolean {
  const registry = value as Partial<Record<'registerMetric' | 'getSingleMetric' | 'removeSingleMetric' | 'metrics', unknown>> | null;
  return (
    typeof registry === 'object' &&
    registry !== null &&
    ['registerMetric', 'getSingleMetric', 'removeSingleMetric', 'metrics'].every(
      (method) => typeof registry[method as keyof typeof registry] === 'function',
    )
  );
}

const schema = strictObject(
  {
    registry: z.optional(shaped<Registry>(isRegistry, 'allowed: a prom-client Registry')),
    prefix: z._default(
      text(
        /^(?:[A-Za-z_:][\w:]*)?$/,
        'allowed: a Prometheus metric name prefix (letters, digits, _ and :, not starting with a digit), or ""',
      ),
      metricsDefaults.prefix,
    ),
    defaultMetrics: z._default(flag(), metricsDefaults.defaultMetrics),
    scrapeTimeout: duration(metricsDefaults.scrapeTimeout),
  },
  'allowed: an object with registry, prefix, defaultMetrics and scrapeTimeout, all optional',
);

/** A Scheduler, by its shape, as the registry is. */
function isScheduler(value: unknown): value is Scheduler {
  const scheduler = value as Partial<Record<'name' | 'inspect' | 'historySize' | 'on' | 'off', unknown>> | null;
  return (
    typeof scheduler === 'object' &&
    scheduler !== null &&
    typeof scheduler.name === 'string' &&
    [scheduler.inspect, scheduler.historySize, scheduler.on, scheduler.off].every((method) => typeof method === 'function')
  );
}

/** The metrics of one registry under one prefix, shared by the schedulers reporting there. */
interface Shared {
  families: MetricFamilies;
  gauges: StoreGauges;
}

const sharedByRegistry = new WeakMap<Registry, Map<string, Shared>>();

function sharedOf(registry: Registry, prefix: string): Shared {
  let byPrefix = sharedByRegistry.get(registry);
  if (!byPrefix) sharedByRegistry.set(registry, (byPrefix = new Map()));
  let shared = byPrefix.get(prefix);
  if (!shared) {
    const gauges = new StoreGauges();
    const families: MetricFamilies = registerFamilies(registry, prefix, () => gauges.collect(families));
    shared = { families, gauges };
    byPrefix.set(prefix, shared);
  }
  return shared;
}

/**
 * Reports `scheduler` in a prom-client registry: its events counted from now on, its stores read
 * at each scrape. A scrape never fails because a store is down: see `scrapeTimeout`.
 * @throws {ConfigError} for bad options, a value that is not a Scheduler, a scheduler of a name
 *   already reporting to the registry under the prefix, or a prefix whose names the registry
 *   already holds (another library's metrics)
 */
export function collectMetrics(scheduler: Scheduler, options?: MetricsOptions): SchedulerMetrics {
  if (!isScheduler(scheduler)) throw new ConfigError('collectMetrics(scheduler)', scheduler, 'allowed: a Scheduler');
  const parsed = parseOptions(schema, options ?? {}, (path) => `collectMetrics(options${path ? `.${path}` : ''})`);
  const registry = parsed.registry ?? new Registry();
  const { prefix } = parsed;
  const shared = sharedOf(registry, prefix);
  if (shared.gauges.has(scheduler.name)) {
    throw new ConfigError(
      'collectMetrics(scheduler)',
      scheduler.name,
      'allowed: a scheduler whose name no other reports to this registry under this prefix (close the metrics of the other first)',
    );
  }
  // prom-client registers these once per registry: a second call would collide with the first.
  if (parsed.defaultMetrics && registry.getSingleMetric('process_cpu_user_seconds_total') === undefined) {
    collectDefaultMetrics({ register: registry });
  }
  shared.gauges.add(scheduler, parsed.scrapeTimeout);
  // At 0 from the start: "no scrape failed yet" must read as 0, not as absent.
  for (const read of ['slots', 'history']) shared.families.scrapeErrors.inc({ scheduler: scheduler.name, read }, 0);
  const stopCounting = countEvents(scheduler, shared.families);
  let closed = false;
  return {
    registry,
    close() {
      if (closed) return;
      closed = true;
      stopCounting();
      shared.gauges.delete(scheduler);
      if (shared.gauges.size > 0) return;
      shared.families.unregister();
      sharedByRegistry.get(registry)?.delete(prefix);
    },
  };
}
