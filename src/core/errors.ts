/**
 * Every error task-semaphore throws is a {@link TaskSemaphoreError}: a literal `name`, a stable
 * `code` to branch on, the original `cause`, and the context that helps to find the culprit.
 */

/**
 * The codes a {@link ConfigError} carries: `ERR_CONFIG` for any bad option, config or argument,
 * and a code of its own for the mistakes worth branching on.
 */
export const configErrorCodes = [
  'ERR_CONFIG',
  'ERR_BAD_DURATION',
  'ERR_TASK_ID',
  'ERR_UNKNOWN_SLOT_CLASS',
  'ERR_UNKNOWN_BACKEND',
  'ERR_DUPLICATE_SLOT_ID',
  'ERR_BAD_BACKENDS',
  'ERR_DUPLICATE_BACKEND',
  'ERR_CONFIG_FILE',
] as const;
export type ConfigErrorCode = (typeof configErrorCodes)[number];

/** Every code of the errors of the core and the scheduler: README's error table lists each. */
export const schedulerErrorCodes = [
  ...configErrorCodes,
  'ERR_MISSING_PEER',
  'ERR_SCHEDULER_STATE',
  'ERR_POLL_RESULT',
  'ERR_CALL_TIMEOUT',
  'ERR_TASK_ABORTED',
  'ERR_NOT_ACQUIRED',
] as const;
export type SchedulerErrorCode = (typeof schedulerErrorCodes)[number];

/** Every code of the errors a slot store throws: README's error table lists each. */
export const storeErrorCodes = ['ERR_STORE_UNAVAILABLE', 'ERR_STORE', 'ERR_STORE_CONFLICT'] as const;
export type StoreErrorCode = (typeof storeErrorCodes)[number];

/** Brand checked by `isTaskSemaphoreError`, so that errors from two copies of the package match. */
const brand = Symbol.for('task-semaphore.error');

/** Context fields an error may carry; each is set only where it is known. */
export interface ErrorContext {
  slotId?: string;
  taskId?: string;
  backend?: string;
  token?: number;
  field?: string;
  value?: unknown;
}

/**
 * The base of every error of the package. `Code` is the literal code (or union of codes) of a
 * subclass, each of an area's list (`schedulerErrorCodes`, `storeErrorCodes`, the Procrastinate
 * backend's `procrastinateErrorCodes`).
 */
export class TaskSemaphoreError<Code extends string = string> extends Error {
  override name = 'TaskSemaphoreError';
  readonly code: Code;
  // Declared, not initialised, so that only the fields given exist on the instance.
  declare readonly slotId?: string;
  declare readonly taskId?: string;
  declare readonly backend?: string;
  declare readonly token?: number;
  declare readonly value?: unknown;
  readonly [brand] = true;

  constructor(code: Code, message: string, context: ErrorContext & { cause?: unknown } = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    for (const key of ['slotId', 'taskId', 'backend', 'token', 'value'] as const) {
      if (context[key] !== undefined) Object.defineProperty(this, key, { value: context[key], enumerable: true });
    }
  }
}

export function isTaskSemaphoreError(error: unknown): error is TaskSemaphoreError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[brand] === true;
}

/**
 * Bad configuration or options. The message names the field, the bad value and what is allowed,
 * e.g. `slots[2].slotCls: unknown slot class "RedisSlto"; registered: MemorySlot, RedisSlot, PostgresSlot`.
 * `Code` is the codes it may carry besides `ERR_CONFIG`: those of {@link configErrorCodes} unless
 * an area names its own (the Procrastinate backend's `ERR_QUEUE_NAME`).
 */
export class ConfigError<Code extends string = ConfigErrorCode> extends TaskSemaphoreError<Code | 'ERR_CONFIG'> {
  override name = 'ConfigError';
  readonly field: string;
  declare readonly value: unknown;
  /** What is allowed, as the message says it after the value (`allowed: a positive integer`). */
  readonly allowed: string;

  /** @param code - `ERR_CONFIG` when absent; never inferred from the argument, so a misspelt code fails to compile */
  constructor(field: string, value: unknown, allowed: string, code?: NoInfer<Code>) {
    super(code ?? 'ERR_CONFIG', `${field}: got ${describe(value)}; ${allowed}`);
    this.field = field;
    this.allowed = allowed;
    Object.defineProperty(this, 'value', { value, enumerable: true });
  }
}

/** The ConfigError `check` throws, as a list of none or one, so that a caller can gather every problem. */
export function configErrorsOf(check: () => unknown): ConfigError<string>[] {
  try {
    check();
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return [error];
    throw error;
  }
}

/**
 * A task id that breaks the task-id grammar (see `checkTaskId`), given to `keepalive`, `stop`,
 * `cancel` or a store. The message names the rule it breaks and shows the value, cut short.
 */
export class TaskIdError extends ConfigError<'ERR_TASK_ID'> {
  override name = 'TaskIdError';
  declare readonly code: 'ERR_TASK_ID';
  /** Which rule the id breaks, e.g. `contains a NUL character`. */
  readonly problem: string;
  constructor(field: string, value: unknown, problem: string, allowed: string) {
    // `value` is the id cut short, as the message shows it: a 3 kB id would swamp logs.
    super(field, preview(value), `${problem}; allowed: ${allowed}`, 'ERR_TASK_ID');
    this.problem = problem;
  }
}

/** A backend's `poll` returned something other than a task id string or nothing. */
export class PollResultError extends TaskSemaphoreError<'ERR_POLL_RESULT'> {
  override name = 'PollResultError';
  constructor(backend: string, slotId: string, value: unknown) {
    super(
      'ERR_POLL_RESULT',
      `backend "${backend}" poll returned ${describe(value)}; expected a task id string, or null/undefined/'' for nothing`,
      { backend, slotId, value },
    );
  }
}

/** A backend call (poll or a callback) did not settle within its time limit. */
export class CallTimeoutError extends TaskSemaphoreError<'ERR_CALL_TIMEOUT'> {
  override name = 'CallTimeoutError';
  constructor(what: string, ms: number, context: ErrorContext) {
    super('ERR_CALL_TIMEOUT', `${what} did not settle within ${ms} ms`, context);
  }
}

/** The store could not be reached or answered with an error. The URL never shows a password. */
export class StoreUnavailableError extends TaskSemaphoreError<'ERR_STORE_UNAVAILABLE'> {
  override name = 'StoreUnavailableError';
  readonly url: string;
  constructor(kind: string, url: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('ERR_STORE_UNAVAILABLE', `cannot reach ${kind} at ${redactUrl(url)}: ${reason}`, { cause });
    this.url = redactUrl(url);
  }
}

/**
 * A store call failed after `init()` for a reason other than the connection (a script or statement
 * the server refused). The message names the store, where it is (password hidden) and the
 * operation; `cause` is the store client's own error.
 */
export class StoreError extends TaskSemaphoreError<'ERR_STORE'> {
  override name = 'StoreError';
  readonly url: string;
  /** The store operation that failed, e.g. `begin-pass-13` or `end-many`. */
  readonly operation: string;
  constructor(kind: string, url: string, operation: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('ERR_STORE', `${kind} at ${redactUrl(url)} failed in ${operation}: ${reason}`, { cause });
    this.url = redactUrl(url);
    this.operation = operation;
  }
}

/**
 * A store call could not act because the task's record kept changing under every attempt (a task
 * ended and started again in a tight loop by other processes): nothing was changed; retry the call.
 */
export class StoreConflictError extends TaskSemaphoreError<'ERR_STORE_CONFLICT'> {
  override name = 'StoreConflictError';
  constructor(taskId: string, attempts: number) {
    super('ERR_STORE_CONFLICT', `task "${taskId}" kept changing under ${attempts} attempts; retry the call`, { taskId });
  }
}

/**
 * An optional peer dependency (`ioredis` for RedisSlot, `pg` for PostgreSQL) is not installed.
 * The message says what needs it and what to install.
 */
export class MissingPeerError extends TaskSemaphoreError<'ERR_MISSING_PEER'> {
  override name = 'MissingPeerError';
  /** The package to install, e.g. `ioredis`. */
  readonly peer: string;
  constructor(peer: string, neededBy: string, cause: unknown) {
    super('ERR_MISSING_PEER', `${neededBy} needs the package "${peer}", which is not installed: npm install ${peer}`, { cause });
    this.peer = peer;
  }
}

/** The scheduler was used before `load()` or after `close()`. */
export class SchedulerStateError extends TaskSemaphoreError<'ERR_SCHEDULER_STATE'> {
  override name = 'SchedulerStateError';
  constructor(message: string) {
    super('ERR_SCHEDULER_STATE', message);
  }
}

/**
 * `run()` took no slot: `reason` `busy` (none was free, and the wait was false or ran out) or
 * `duplicate` (the task id holds a slot, or waits for one, elsewhere).
 */
export class TaskNotAcquiredError extends TaskSemaphoreError<'ERR_NOT_ACQUIRED'> {
  override name = 'TaskNotAcquiredError';
  readonly reason: 'busy' | 'duplicate';
  constructor(taskId: string, reason: 'busy' | 'duplicate', slotId?: string | null) {
    super(
      'ERR_NOT_ACQUIRED',
      reason === 'busy'
        ? `task "${taskId}" got no slot: none was free within the wait`
        : `task "${taskId}" got no slot: it already ${slotId ? `holds slot ${slotId}` : 'waits for one'} elsewhere`,
      { taskId, ...(slotId ? { slotId } : {}) },
    );
    this.reason = reason;
  }
}

/**
 * Hides the secrets of a connection URL behind `***`: the password, a lone Redis user-info
 * secret, and a `password` query parameter (pg and ioredis read both).
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!/^(redis|rediss|postgres|postgresql):$/.test(parsed.protocol)) throw new Error('not a store URL');
    if (parsed.password) parsed.password = '***';
    else if (parsed.username && /^redis/.test(parsed.protocol)) parsed.username = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString().replace('password=%2A%2A%2A', 'password=***');
  } catch {
    // Not a URL we know (scheme-less "user:pass@host", a socket path): hide all user info.
    return url
      .replace(/^([a-z]+:\/\/)?[^@/]*@/i, (_, scheme: string | undefined) => `${scheme ?? ''}***@`)
      .replace(/password=[^&]*/gi, 'password=***');
  }
}

/**
 * A bad value as an error may show it: a string that looks like a connection URL (given where it
 * does not belong, or read from the environment) with its secrets hidden by {@link redactUrl}.
 */
export function redactValue(value: unknown): unknown {
  return typeof value === 'string' && /^[a-z][\w+.-]*:\/\/|@/i.test(value) ? redactUrl(value) : value;
}

/** A short, safe rendering of a bad value for error messages. */
export function describe(value: unknown): string {
  // A long string is cut: a config value of megabytes (or of NULs, six characters each once
  // escaped) would otherwise swamp the message and the log line.
  if (typeof value === 'string') {
    const whole = JSON.stringify(value);
    if (whole.length <= 122) return whole; // 120 characters and the quotes
    // Cut by what is shown: a NUL shows as six characters once escaped.
    let end = Math.min(value.length, 100);
    while (end > 0 && JSON.stringify(value.slice(0, end)).length > 100) end--;
    return `${JSON.stringify(value.slice(0, end))}…(${value.length} characters)`;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  try {
    const text = JSON.stringify(value);
    return text.length > 120 ? `${text.slice(0, 117)}...` : text;
  } catch {
    // A bigint or a cycle; String() itself throws on an object without a prototype.
    return typeof value === 'bigint' ? `${value}n` : Object.prototype.toString.call(value);
  }
}

/** A long string cut to its first 40 characters, so that a 3 kB id does not fill a log line. */
export function preview(value: unknown): unknown {
  if (typeof value !== 'string' || value.length <= 60) return value;
  return `${value.slice(0, 40)}…(${value.length} characters)`;
}

/** Wraps a non-Error throw so callers always get an Error with the original as `cause`. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(`non-Error thrown: ${describe(thrown)}`, { cause: thrown });
}

/** Why a running task's AbortSignal fired. */
export type AbortCause = 'cancel_requested' | 'timeout' | 'max_runtime' | 'backend_removed' | 'start_failed' | 'lost' | 'shutdown';

/**
 * The `signal.reason` of a task's AbortSignal: the task should stop. `cause` says why:
 * a cancel was requested, it timed out, its backend was removed, its start failed, its scheduler
 * is shutting down, or it lost its slot some other way (ended elsewhere, forgotten by a store that lost its state, or its
 * keepalives from this process could not reach the store before the slot's deadline).
 */
export class TaskAbortedError extends TaskSemaphoreError<'ERR_TASK_ABORTED'> {
  override name = 'TaskAbortedError';
  readonly abortCause: AbortCause;
  constructor(abortCause: AbortCause, context: ErrorContext) {
    super('ERR_TASK_ABORTED', `task ${context.taskId ?? ''} should stop: ${abortCause.replace('_', ' ')}`, context);
    this.abortCause = abortCause;
  }
}
