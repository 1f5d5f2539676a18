/**
 * Checks of the fields of a job to defer, shared by the client and the periodic deferrer. Each
 * names the field and the bad value, so a mistake surfaces in Node as a ConfigError rather than
 * later as a PostgreSQL error or a Python worker failing the job.
 */
import { ConfigError } from '../../src/errors.js';

/** task_name and queue_name are varchar(128), which counts characters, not bytes. */
const maxNameLength = 128;

/** Job ids are int8, which `pg` returns as strings; a number or bigint is accepted too. */
export type JobId = string | number | bigint;

/** Checks a task name: a non-empty string of at most 128 characters. @throws ConfigError */
export function checkTaskName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '' || [...value].length > maxNameLength) {
    throw new ConfigError(field, value, `expected a non-empty task name of at most ${maxNameLength} characters, e.g. "myapp.tasks.send_email"`);
  }
  return value;
}

/**
 * Checks args: a plain JSON object of keyword arguments, since Python calls `task(**args)` and
 * has no positional arguments. Returns its JSON text.
 * @throws ConfigError for an array, a primitive, a class instance or something JSON cannot hold
 */
export function argsJson(value: unknown, field: string): string {
  if (value === undefined) return '{}';
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw new ConfigError(field, value, 'expected a plain object of keyword arguments (Python calls task(**args)), e.g. { to: "a@b.c" }');
  }
  try {
    return JSON.stringify(value);
  } catch (error) {
    // A bigint or a cycle: say so rather than let JSON.stringify's TypeError escape.
    throw new ConfigError(field, value, `expected JSON-serialisable values (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** Checks a priority: a 32-bit integer, larger runs first. @throws ConfigError */
export function checkPriority(value: unknown, field: string): number {
  if (value === undefined) return 0;
  if (!Number.isSafeInteger(value) || (value as number) < -(2 ** 31) || (value as number) > 2 ** 31 - 1) {
    throw new ConfigError(field, value, 'expected an integer between -2147483648 and 2147483647 (larger runs first)');
  }
  return value as number;
}

/** Checks a lock or queueing lock: a non-empty string, or null/undefined for none. @throws ConfigError */
export function checkLock(value: unknown, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value === '') throw new ConfigError(field, value, 'expected a non-empty string, or null for none');
  return value;
}

/** Checks a schedule time: a valid Date, or null/undefined for as soon as possible. @throws ConfigError */
export function checkScheduleAt(value: unknown, field: string): Date | null {
  if (value === undefined || value === null) return null;
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new ConfigError(field, value, 'expected a valid Date, or null to run as soon as possible');
  return value;
}

/** Checks a job id and returns it as the decimal string `pg` uses for int8. @throws ConfigError */
export function checkJobId(value: unknown, field: string): string {
  const text = typeof value === 'number' || typeof value === 'bigint' ? String(value) : value;
  if (typeof text !== 'string' || !/^[1-9]\d{0,18}$/.test(text) || BigInt(text) > 2n ** 63n - 1n) {
    throw new ConfigError(field, value, 'expected a job id: a positive integer, as a string (pg returns int8 as strings)');
  }
  return text;
}
