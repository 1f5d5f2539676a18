import { Backend } from '../contracts/backend.js';
import { ConfigError } from '../core/errors.js';
import { unstorableTextProblem } from '../core/storable-text.js';

/** A backend to register: an instance, or a class built once with no arguments. */
export type BackendInput = Backend | (new () => Backend);

const allowed = 'allowed: a Backend subclass, or an instance of one (an object with poll and startCallback)';

/**
 * The backend to register under `name`: the instance given, or one built from the class given.
 * @throws ConfigError naming the registration and what is allowed
 */
export function toBackend(name: string, input: BackendInput): Backend {
  const allowedName = 'allowed: a non-empty string';
  if (typeof name !== 'string' || name.length === 0) throw new ConfigError('registerBackend(name)', name, allowedName);
  // The name is stored with every task of the backend, in Redis keys and PostgreSQL text.
  const problem = unstorableTextProblem(name);
  if (problem !== null) throw new ConfigError('registerBackend(name)', name, `${problem}; ${allowedName}`);
  if (typeof input === 'function') {
    // A class is built once, with no arguments; an arrow function or a factory is not a class.
    if (!isBackendClass(input)) throw new ConfigError(`registerBackend("${name}")`, input, allowed);
    input = new input();
  }
  if (!isBackend(input)) throw new ConfigError(`registerBackend("${name}")`, input, allowed);
  return input;
}

/** True for a class whose instances are backends: what `registerBackend` builds with no arguments. */
export function isBackendClass(value: unknown): value is new (...args: never[]) => Backend {
  return typeof value === 'function' && isBackend(value.prototype);
}

/** True for a Backend, or an object with its shape (poll and startCallback). */
export function isBackend(value: unknown): value is Backend {
  return (
    value instanceof Backend ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as Backend).poll === 'function' &&
      typeof (value as Backend).startCallback === 'function')
  );
}
