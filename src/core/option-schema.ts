/**
 * The one mechanism that checks every options object and config entry: a zod/mini schema per
 * object. Its first problem becomes a {@link ConfigError} naming the field, the bad value and
 * what is allowed; an unknown key names the allowed ones, so that a typo (`reddis`) never leaves
 * an option silently at its default.
 */
import * as z from 'zod/mini';
import { readDuration, type DurationBounds } from './duration.js';
import { ConfigError, describe, redactUrl, type ConfigErrorCode } from './errors.js';
import { unstorableTextProblem } from './storable-text.js';

/** A schema of this mechanism: any zod/mini schema. */
export type Schema<Output> = z.ZodMiniType<Output>;

/** What a custom issue may carry for its ConfigError. */
interface IssueParams {
  /** The error code; `ERR_CONFIG` when absent. */
  code?: ConfigErrorCode;
}

/**
 * An object whose keys must all be known; an unknown one fails with
 * "unknown option `reddis`; allowed: name, redis, …".
 * @param expected - what is allowed when the value is not an object at all
 * @param noun - what a key is called in messages: `option` (options objects) or `field` (config entries)
 */
export function strictObject<Shape extends z.core.$ZodLooseShape>(shape: Shape, expected: string, noun = 'option') {
  const keys = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown ${noun} \`${issue.keys[0]}\`; allowed: ${keys}` : expected),
  });
}

/** A value that `accept` approves, else the issue `allowed` (e.g. a client checked by its shape). */
export function shaped<T>(accept: (value: unknown) => boolean, allowed: string) {
  return checked<T>((value) => (accept(value) ? undefined : allowed));
}

/** A value checked by `problemOf`, which says what is allowed when the value is not, else nothing. */
export function checked<T>(problemOf: (value: unknown) => string | undefined) {
  const schema = z.pipe(
    z.unknown(),
    z.transform((value: unknown, payload) => {
      const problem = problemOf(value);
      if (problem === undefined) return value as T;
      payload.issues.push({ code: 'custom', message: problem, input: value });
      return z.NEVER;
    }),
  );
  // A missing key goes through the check too; zod would otherwise fail it without our message.
  return z.prefault(schema, undefined);
}

/**
 * One value or an array of them, each checked by `problemOf` (which says what is allowed, or
 * nothing), read as an array. A bad element is named by its index: `outcome[1]`.
 */
export function listOf<T>(problemOf: (value: unknown) => string | undefined) {
  return z.pipe(
    z.unknown(),
    z.transform((value: unknown, payload): readonly T[] => {
      const values = Array.isArray(value) ? (value as unknown[]) : [value];
      values.forEach((item, i) => {
        const problem = problemOf(item);
        if (problem === undefined) return;
        const path = Array.isArray(value) ? [i] : [];
        payload.issues.push({ code: 'custom', message: problem, input: item, path });
      });
      return payload.issues.length > 0 ? z.NEVER : (values as T[]);
    }),
  );
}

/** `false`, or an object `schema` accepts (a missing value is read as `{}`): an option that can be turned off. */
export function falseOr<Output>(schema: Schema<Output>) {
  const read = z.pipe(
    z.unknown(),
    z.transform((value: unknown, payload): false | Output => {
      if (value === false) return false;
      const result = z.safeParse(schema, value ?? {}, { reportInput: true });
      if (result.success) return result.data;
      for (const issue of result.error.issues) payload.issues.push(issue as (typeof payload.issues)[number]);
      return z.NEVER;
    }),
  );
  // A missing key is read too (as `{}`), as in `checked`.
  return z.prefault(read, undefined);
}

/** Any value or none: one that the caller checks itself, after the keys. */
export function checkedLater() {
  return z.optional(z.unknown());
}

/** A string matching `pattern`. */
export function text(pattern: RegExp, allowed: string) {
  return z.string(allowed).check(z.regex(pattern, allowed));
}

/**
 * A string matching `pattern` that every store keeps as given: no NUL, no lone surrogate (see
 * storable-text.ts). For names that become Redis keys or PostgreSQL text.
 */
export function storableText(pattern: RegExp, allowed: string) {
  return checked<string>((value) => {
    if (typeof value !== 'string' || !pattern.test(value)) return allowed;
    const problem = unstorableTextProblem(value);
    return problem === null ? undefined : `${problem}; ${allowed}`;
  });
}

/** A boolean. */
export function flag() {
  return z.boolean('allowed: true or false');
}

/** One of a few literal values. */
export function oneOf<const T extends string>(values: readonly T[]) {
  return shaped<T>((value) => values.includes(value as T), `allowed: ${values.map((v) => `"${v}"`).join(', ')}`);
}

/** An integer of at least `min`, optionally `Infinity` too. */
export function integer(min: number, options: { infinity?: boolean; allowed?: string } = {}) {
  const allowed = options.allowed ?? `allowed: an integer >= ${min}${options.infinity ? ', or Infinity for no limit' : ''}`;
  return shaped<number>(
    (value) =>
      (Number.isSafeInteger(value) && (value as number) >= min) || (options.infinity === true && value === Number.POSITIVE_INFINITY),
    allowed,
  );
}

/**
 * A {@link Duration} (milliseconds, or `'30s'`, `'5m'`, …) read into milliseconds; `fallback`,
 * read the same way, stands in for a missing value. A bad one fails with code `ERR_BAD_DURATION`.
 */
export function duration(fallback: number | string, bounds?: DurationBounds) {
  const schema = z.pipe(
    z.unknown(),
    z.transform((value: unknown, payload) => {
      const read = readDuration(value, bounds);
      if ('ms' in read) return read.ms;
      payload.issues.push({
        code: 'custom',
        message: read.allowed,
        input: value,
        params: { code: 'ERR_BAD_DURATION' } satisfies IssueParams,
      });
      return z.NEVER;
    }),
  );
  // prefault, unlike a default, parses the fallback too: '5m' becomes 300000.
  return z.prefault(schema, fallback);
}

/**
 * Checks `input` against `schema` and returns what it parsed.
 * @param prefix - prepended to every field path (e.g. `PeriodicDeferrerOptions`), or a function
 *   that names the field of a path (`queue` → `defer(options.queue)`); without it, a value that is
 *   no object at all is reported as `options`
 * @throws ConfigError naming the field, the bad value and what is allowed
 */
export function parseOptions<Output>(schema: Schema<Output>, input: unknown, prefix?: string | ((path: string) => string)): Output {
  const result = z.safeParse(schema, input, { reportInput: true });
  if (result.success) return result.data;
  // An unknown key first: a typo of a required option would otherwise be reported as missing.
  const issues = result.error.issues;
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
  let path = issue.path;
  let value = issue.input;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    path = [...path, key];
    value = (issue.input as Record<string, unknown> | undefined)?.[key];
  }
  const code = (issue as { params?: IssueParams }).params?.code;
  const field = typeof prefix === 'function' ? prefix(fieldName('', path)) : fieldName(prefix, path) || 'options';
  return fail(field, value, issue.message, code);
}

function fail(field: string, value: unknown, allowed: string, code: ConfigErrorCode | undefined): never {
  // A connection URL given where it does not belong must not print its password.
  const shown = typeof value === 'string' && /^[a-z][\w+.-]*:\/\/|@/i.test(value) ? redactUrl(value) : value;
  throw new ConfigError(field, shown, allowed, code);
}

/** `tasks[1].cron`, `tasks["app.send"].retry`: the path as a user would write it. */
function fieldName(prefix: string | undefined, path: readonly PropertyKey[]): string {
  let name = prefix ?? '';
  for (const key of path) {
    if (typeof key === 'number') name += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) name += name ? `.${key}` : key;
    else name += `[${describe(String(key))}]`;
  }
  return name;
}
