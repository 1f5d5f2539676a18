/**
 * task-semaphore: N slots shared by every scheduler of one name on one store (memory, Redis or
 * PostgreSQL) bound how many tasks run at once, fleet-wide.
 */
export { Scheduler, type BackendInput, type InspectedSlot } from './scheduler.js';
export type { SchedulerOptions, ResolvedOptions } from './options.js';
export type { RedisClientLike, PgPoolLike } from './connection-options.js';
export { defaults } from './options.js';
export type { SchedulerEvents } from './events.js';
export type { SlotConfigInput, SlotKwargs, SlotConfig } from './config.js';
export { normalizeConfig } from './config.js';
export { parseDuration, type Duration } from './duration.js';
export type { Logger } from './logger.js';
export type {
  CancelOutcome,
  KeepaliveOutcome,
  LostOutcome,
  PassReport,
  StopOptions,
  StopOutcomeResult,
} from './results.js';
export type { SlotClass, SlotClassContext } from './slot-classes.js';
export * from './errors.js';
export * from '../backends/backend.js';
export * from '../slots/store.js';
export { checkTaskId, taskIdProblem, maxTaskIdBytes } from '../slots/task-id.js';
export { MemorySlotStore, type MemorySlotStoreOptions } from '../slots/memory/index.js';
