/**
 * `task-semaphore/http`: a scheduler's HTTP endpoint (health, slots, history, the control API of
 * tasks), for library users; `task-semaphore run` starts the same from its config file.
 */
export { HttpServer, buildHttpApp, type HttpServerOptions } from './server.js';
export { defaultHost, defaultPort, type HttpOptions } from './http-options.js';
export { HealthMonitor, type HealthReport } from './health.js';
