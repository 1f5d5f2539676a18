/**
 * Errors of the Procrastinate backend. Each is a {@link TaskSemaphoreError}, so callers branch on
 * `code` and errors from two copies of the package still match `isTaskSemaphoreError`.
 */
import { TaskSemaphoreError } from '../../src/errors.js';

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
