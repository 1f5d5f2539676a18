/**
 * task-semaphore/http: what a scheduler shows over HTTP. `collectMetrics` reports a Scheduler in a
 * prom-client registry, for a `/metrics` route or a registry of your own.
 */
export { collectMetrics, metricsDefaults, type MetricsOptions, type SchedulerMetrics } from './metrics.js';
