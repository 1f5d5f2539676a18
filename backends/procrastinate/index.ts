/**
 * task-semaphore/backends/procrastinate: run Procrastinate jobs in slots, beside Python workers.
 */
export { ProcrastinateBackend } from './backend.js';
export {
  backendDefaults,
  type DeleteJobsPolicy,
  type JobContext,
  type JobHandler,
  type ProcrastinateBackendOptions,
  type TaskDefinition,
} from './backend-options.js';
export {
  AlreadyEnqueuedError,
  isQueueingLockConflict,
  JobAbortedError,
  JobArgsError,
  ProcrastinateSchemaError,
  UnknownTaskError,
  procrastinateErrorCodes,
  type JobAbortReason,
  type ProcrastinateErrorCode,
} from './errors.js';
export {
  applySchema,
  checkSchemaLevel,
  requiredLevel,
  type ApplySchemaOptions,
  type ApplySchemaResult,
  type ProcrastinateSchemaLevel,
} from './schema.js';
export { validateQueues, maxQueueNameBytes } from './queues.js';
export { normalizeRetry, retryDelay, type ErrorClass, type RetryOption, type RetryPolicy } from './retry.js';
export {
  ProcrastinateClient,
  type ProcrastinateClientOptions,
  type DeferOptions,
  type JobToDefer,
  type JobStatus,
  type JobEventType,
  type ProcrastinateJob,
  type JobEvent,
  type CancelOptions,
} from './client.js';
export { PeriodicDeferrer, type PeriodicTask, type PeriodicDeferrerOptions } from './periodic.js';
export {
  recoverStalledJobs,
  type StalledJob,
  type StalledJobDecision,
  type RecoverStalledJobsOptions,
  type RecoverStalledJobsResult,
} from './sweeper.js';
