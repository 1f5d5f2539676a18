/**
 * Errors of the Procrastinate backend. Each is a {@link TaskSemaphoreError}, so callers branch on
 * `code` and errors from two copies of the package still match `isTaskSemaphoreError`.
 */
import { TaskSemaphoreError } from '../../src/core/errors.js';

/** What a schema error knows about the culprit; each field is set only where it is known. */
export interface ProcrastinateSchemaErrorDetails {
  /** The Procrastinate version that introduced the missing object, e.g. `'3.1'`. */
  level?: string;
  /** The missing or outdated object, e.g. `table procrastinate_workers`. */
  object?: string;
  /** The connection's search_path, where the object was looked for. */
  searchPath?: string;
  cause?: unknown;
}

/**
 * The database lacks the Procrastinate schema this library needs (level 3.4, Procrastinate
 * 3.4.0 to 3.9.0), has an older one, or holds part of it. The message names the missing object,
 * the version that introduced it, and what to run: Procrastinate's migrations for an existing
 * schema, `applySchema()` for an empty one.
 */
export class ProcrastinateSchemaError extends TaskSemaphoreError {
  override name = 'ProcrastinateSchemaError';
  declare readonly level?: string;
  declare readonly object?: string;
  declare readonly searchPath?: string;

  constructor(message: string, details: ProcrastinateSchemaErrorDetails = {}) {
    super('ERR_PROCRASTINATE_SCHEMA', message, { backend: 'procrastinate', cause: details.cause });
    // Only the fields given exist on the instance, as in the base class.
    for (const key of ['level', 'object', 'searchPath'] as const) {
      if (details[key] !== undefined) Object.defineProperty(this, key, { value: details[key], enumerable: true });
    }
  }
}

/** The unique index that allows one queued (`todo`) job per queueing lock. */
export const queueingLockIndex = 'procrastinate_jobs_queueing_lock_idx_v1';

/**
 * True for the unique violation Procrastinate maps to `AlreadyEnqueued`: SQLSTATE 23505 on
 * {@link queueingLockIndex}. Any other 23505 is a different problem and must be rethrown. Read
 * by shape, not `instanceof`, since a pool passed in may come from another copy of `pg`.
 */
export function isQueueingLockConflict(error: unknown): boolean {
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === queueingLockIndex;
}

/**
 * The queueing lock a conflict names, read from the error detail
 * `Key (queueing_lock)=(…) already exists.`; null when the server sent no such detail (it omits
 * it when the role may not read the column).
 */
export function conflictingQueueingLock(error: unknown): string | null {
  const { detail } = (error ?? {}) as { detail?: unknown };
  if (typeof detail !== 'string') return null;
  const match = /^Key \(queueing_lock\)=\((.*)\) already exists\.?$/s.exec(detail);
  return match?.[1] ?? null;
}

/**
 * A job could not be deferred (or put back to `todo`) because another queued job holds the same
 * queueing lock: Procrastinate's `AlreadyEnqueued`. Nothing was written; in a batch, no job of
 * the batch was. Branch on `code === 'ERR_ALREADY_ENQUEUED'`; the PostgreSQL error is the `cause`.
 */
export class AlreadyEnqueuedError extends TaskSemaphoreError {
  override name = 'AlreadyEnqueuedError';
  /** The queueing lock already held by a queued job; null if the server did not say which. */
  readonly queueingLock: string | null;

  constructor(queueingLock: string | null, cause: unknown, message?: string) {
    super(
      'ERR_ALREADY_ENQUEUED',
      message ??
        `a job with queueing lock ${queueingLock === null ? '(unknown)' : JSON.stringify(queueingLock)} is already queued; ` +
          'defer again once it has started, or defer without a queueingLock',
      { backend: 'procrastinate', cause },
    );
    this.queueingLock = queueingLock;
  }
}
