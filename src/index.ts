/**
 * task-semaphore: N slots shared by every scheduler of one name on one store (memory, Redis or
 * PostgreSQL) bound how many tasks run at once, fleet-wide.
 */
export {
  Scheduler,
  type AcquireOptions,
  type BackendInput,
  type DroppedTask,
  type HistorySize,
  type InspectedSlot,
  type ShutdownOptions,
  type ShutdownReport,
  type ShutdownTask,
} from './scheduler/scheduler.js';
export type { SchedulerOptions, ResolvedOptions } from './scheduler/options.js';
export type { RedisClientLike, PgPoolLike } from './core/connection-options.js';
export { defaults } from './scheduler/options.js';
export type { SchedulerEvents } from './scheduler/events.js';
export type { PollEnd } from './scheduler/pass-poller.js';
export type { StoreCall, StoreMethod } from './scheduler/timed-store.js';
export type { SlotConfigInput, SlotKwargs, SlotConfig } from './scheduler/config.js';
export { normalizeConfig } from './scheduler/config.js';
export { parseDuration, type Duration } from './core/duration.js';
export type { Logger } from './core/logger.js';
export type {
  AcquireOutcome,
  CancelOutcome,
  KeepaliveOutcome,
  LostOutcome,
  PassReport,
  RunContext,
  StopOptions,
  StopOutcomeResult,
} from './contracts/results.js';
export { acquireBackend } from './scheduler/acquired-tasks.js';
export type { SlotClass, SlotClassContext } from './scheduler/slot-classes.js';
export * from './core/errors.js';
export * from './contracts/backend.js';
export * from './contracts/store.js';
export { checkTaskId, taskIdProblem, maxTaskIdBytes } from './contracts/task-id.js';
export {
  historyOutcome,
  historyOutcomes,
  historyDefaults,
  historyLimits,
  normalizeHistoryQuery,
  type HistoryQuery,
  type StoreHistoryOptions,
} from './contracts/history.js';
export { MemorySlotStore, type MemorySlotStoreOptions } from '../slots/memory/index.js';
