/**
 * `task-semaphore/http`: a scheduler's HTTP endpoint (health, metrics, the slot board, slots,
 * history, the control API of tasks), for library users; `task-semaphore run` starts the same
 * from its config file. `collectMetrics` reports a Scheduler in a prom-client registry, for the
 * endpoint's `/metrics` or a registry of your own.
 */
export { HttpServer, buildHttpApp, type HttpServerOptions } from './server.js';
export { defaultHost, defaultPort, type HttpOptions } from './http-options.js';
export { HealthMonitor, type HealthReport } from './health.js';
export { collectMetrics, metricsDefaults, type MetricsOptions, type SchedulerMetrics } from './metrics.js';
