/**
 * The args of a job deferred from Node: a plain JSON object of keyword arguments, checked whole
 * so that the Python (or Node) worker gets exactly what was given, or the caller learns at once,
 * with the path of the value at fault, why it would not.
 */
import { ConfigError, describe } from '../../src/core/errors.js';
import { unstorableTextProblem } from '../../src/core/storable-text.js';

/**
 * Deepest nesting allowed: PostgreSQL's jsonb parser gives up near a few thousand levels, and
 * Python's json module, which reads the args on a Python worker, at its recursion limit (1000).
 */
export const maxArgsDepth = 500;

const allowed = 'expected a plain object of JSON values (null, booleans, finite numbers, strings, arrays, plain objects)';

/**
 * Checks args and returns their JSON text. A key whose value is `undefined` is left out, as JSON
 * does (Python then uses the parameter's default); objects with `toJSON` (a Date) are written as
 * it returns.
 * @param field - the field named in errors, e.g. `defer(args)`; a value inside is named by its path, `defer(args).to[2]`
 * @throws ConfigError for an array, a primitive or a class instance as args, or a value inside
 *   that JSON would change or lose (bigint, NaN, a function, a Map, a cycle), that PostgreSQL
 *   cannot store (a NUL, a lone surrogate) or that is nested too deep
 */
export function argsJson(value: unknown, field: string): string {
  if (value === undefined) return '{}';
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw new ConfigError(field, value, 'expected a plain object of keyword arguments (Python calls task(**args)), e.g. { to: "a@b.c" }');
  }
  const fault = argFault(value, field, 0, []);
  // A path 500 levels deep would swamp the message: its start and end say where.
  const path = (p: string) => (p.length > 160 ? `${p.slice(0, 100)}…${p.slice(-40)}` : p);
  if (fault) throw new ConfigError(path(fault.path), fault.value, `${fault.problem}; ${allowed}`);
  return JSON.stringify(value);
}

interface Fault {
  path: string;
  value: unknown;
  problem: string;
}

/** The first value at or below `value` that would not reach the worker as given, if any. */
function argFault(value: unknown, path: string, depth: number, ancestors: object[]): Fault | undefined {
  const fault = (problem: string): Fault => ({ path, value, problem });
  switch (typeof value) {
    case 'string': {
      const problem = unstorableTextProblem(value);
      return problem === null ? undefined : fault(`a string that ${problem}, which PostgreSQL cannot store`);
    }
    case 'number':
      return Number.isFinite(value) ? undefined : fault(`${value}, which JSON writes as null`);
    case 'boolean':
      return undefined;
    case 'bigint':
      return fault('a bigint, which JSON cannot write (pass it as a string)');
    case 'undefined':
      return fault('undefined, which JSON writes as null in an array');
    case 'function':
    case 'symbol':
      return fault(`a ${typeof value}, which JSON leaves out`);
  }
  if (value === null) return undefined;
  if (depth >= maxArgsDepth) return fault(`nested deeper than ${maxArgsDepth} levels`);
  const object = value as object;
  if (ancestors.includes(object)) return fault('the object it sits in (a cycle), which JSON cannot write');
  ancestors.push(object);
  try {
    return Array.isArray(object) ? itemsFault(object, path, depth, ancestors) : objectFault(object, path, depth, ancestors);
  } finally {
    ancestors.pop();
  }
}

function itemsFault(items: readonly unknown[], path: string, depth: number, ancestors: object[]): Fault | undefined {
  for (let i = 0; i < items.length; i++) {
    const fault = argFault(items[i], `${path}[${i}]`, depth + 1, ancestors);
    if (fault) return fault;
  }
  return undefined;
}

function objectFault(object: object, path: string, depth: number, ancestors: object[]): Fault | undefined {
  const json = (object as { toJSON?: unknown }).toJSON;
  if (typeof json === 'function') return argFault(json.call(object), path, depth, ancestors);
  const proto = Object.getPrototypeOf(object);
  if (proto !== Object.prototype && proto !== null) {
    const kind = (proto as { constructor?: { name?: string } }).constructor?.name || 'class instance';
    return { path, value: object, problem: `a ${kind}, which JSON writes as a plain object of its own fields (convert it first)` };
  }
  for (const [key, item] of Object.entries(object)) {
    const at = /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${describe(key)}]`;
    const keyProblem = unstorableTextProblem(key);
    if (keyProblem !== null) return { path: at, value: key, problem: `a key that ${keyProblem}, which PostgreSQL cannot store` };
    // Left out, as JSON does: the worker sees no such argument.
    if (item === undefined) continue;
    const fault = argFault(item, at, depth + 1, ancestors);
    if (fault) return fault;
  }
  return undefined;
}
