/**
 * Checks of the fields of a job to defer, shared by the client and the periodic deferrer. Each
 * names the field and the bad value, so a mistake surfaces in Node as a ConfigError rather than
 * later as a PostgreSQL error or a Python worker failing the job.
 */
import { ConfigError } from '../../src/core/errors.js';
import { unstorableTextProblem } from '../../src/core/storable-text.js';

/** task_name and queue_name are varchar(128), which counts characters, not bytes. */
const maxNameLength = 128;

/** Job ids are int8, which `pg` returns as strings; a number or bigint is accepted too. */
export type JobId = string | number | bigint;

/** Checks a task name: a non-empty string of at most 128 characters. @throws ConfigError */
export function checkTaskName(value: unknown, field: string): string {
  const expected = `expected a non-empty task name of at most ${maxNameLength} characters, e.g. "myapp.tasks.send_email"`;
  if (typeof value !== 'string' || value === '' || [...value].length > maxNameLength) throw new ConfigError(field, value, expected);
  checkStorable(value, field, expected);
  return value;
}

/**
 * Refuses text PostgreSQL cannot store as given (see storable-text.ts), naming the rule broken.
 * @throws ConfigError
 */
export function checkStorable(value: string, field: string, expected: string): void {
  const problem = unstorableTextProblem(value);
  if (problem !== null) throw new ConfigError(field, value, `${problem}; ${expected}`);
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
  const expected = 'expected a non-empty string, or null for none';
  if (typeof value !== 'string' || value === '') throw new ConfigError(field, value, expected);
  checkStorable(value, field, expected);
  return value;
}

/** Checks a schedule time: a valid Date, or null/undefined for as soon as possible. @throws ConfigError */
export function checkScheduleAt(value: unknown, field: string): Date | null {
  if (value === undefined || value === null) return null;
  if (!(value instanceof Date) || Number.isNaN(value.getTime()))
    throw new ConfigError(field, value, 'expected a valid Date, or null to run as soon as possible');
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
