/**
 * task-semaphore/service: run a scheduler from a config file (JSON, or a JS or TS module), as
 * `task-semaphore run --config FILE` does. The file's JSON Schema is `task-semaphore/config.schema.json`.
 */
export { loadConfigFile, type LoadOptions } from './load-config.js';
export { parseServiceConfig, type ServiceConfig, type ParseContext } from './service-config.js';
export { createScheduler, type CreateSchedulerOptions } from './create-scheduler.js';
export { ConfigFileError, type ConfigIssue } from './errors.js';
export { configJsonSchema, logLevels, fileDefaults, type ConfigKind, type LogLevel } from './config-schema.js';
export { maxSlotIdsPerEntry } from './slot-ids.js';
