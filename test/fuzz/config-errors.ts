/**
 * The property every options object and config shares: a value is accepted, or refused with a
 * ConfigError that names the field, shows the bad value and says what is allowed. Never a
 * TypeError, never a raw schema dump, never a message that a huge value swamps.
 */
import type { ExecutionContext } from 'ava';
import { ConfigError, isTaskSemaphoreError } from '../../src/core/errors.js';

/** Longest message allowed: enough for the field, a value cut short and the allowed values. */
export const maxMessageLength = 1200;

/** What a call did: returned, or threw an error the checks below found clear. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ConfigError };

/**
 * Why `error` is not the clear ConfigError the project promises, or undefined when it is. `fields`
 * are the fields the error may name (a string must match exactly, a RegExp the whole field).
 */
export function unclear(error: unknown, fields: ReadonlyArray<string | RegExp>): string | undefined {
  if (!(error instanceof ConfigError)) {
    return `not a ConfigError: ${error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error)}`;
  }
  if (!isTaskSemaphoreError(error) || !/^ERR_[A-Z_]+$/.test(error.code)) return `no stable code: ${error.code}`;
  const named = fields.some((f) => (typeof f === 'string' ? f === error.field : new RegExp(`^(?:${f.source})$`).test(error.field)));
  if (!named) return `names the field ${JSON.stringify(error.field)}, none of ${fields.map(String).join(', ')}`;
  if (!error.message.startsWith(`${error.field}: got `)) return `message does not start with the field and the value: ${error.message}`;
  // After the value: what is allowed (or which values are registered, or the rule broken).
  if (!/\b(allowed|expected|registered|unique|once per|either|needs|at most|give)\b/.test(error.message.slice(error.field.length))) {
    return `message does not say what is allowed: ${error.message}`;
  }
  if (error.message.length > maxMessageLength) return `message of ${error.message.length} characters: ${error.message.slice(0, 200)}…`;
  if (/"code":|"path":|invalid_type|ZodError/.test(error.message)) return `a raw schema error: ${error.message}`;
  return undefined;
}

/** Runs `build` and sorts the result: returned, or a clear ConfigError; anything else fails the test. */
export function outcomeOf<T>(t: ExecutionContext, build: () => T, fields: ReadonlyArray<string | RegExp>): Outcome<T> {
  try {
    return { ok: true, value: build() };
  } catch (error) {
    return refused(t, error, fields);
  }
}

/** As {@link outcomeOf}, for an async call. */
export async function outcomeOfAsync<T>(
  t: ExecutionContext,
  build: () => Promise<T>,
  fields: ReadonlyArray<string | RegExp>,
): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await build() };
  } catch (error) {
    return refused(t, error, fields);
  }
}

function refused(t: ExecutionContext, error: unknown, fields: ReadonlyArray<string | RegExp>): Outcome<never> {
  const problem = unclear(error, fields);
  // Thrown, so that fast-check shrinks the input and prints the seed.
  if (problem !== undefined) throw new Error(problem, { cause: error });
  t.pass();
  return { ok: false, error: error as ConfigError };
}
