/**
 * The one mechanism that checks every options object and config entry: a zod/mini schema per
 * object. Its first problem becomes a {@link ConfigError} naming the field, the bad value and
 * what is allowed; an unknown key names the allowed ones, so that a typo (`reddis`) never leaves
 * an option silently at its default. {@link collectOptions} returns every problem instead (a
 * config file reports them all at once), and {@link jsonShapes} holds the JSON Schema of the
 * checks written in code, so that the published schema of a config file says what they allow.
 */
import * as z from 'zod/mini';
import { durationPattern, maxDurationMs, readDuration, type DurationBounds } from './duration.js';
import { ConfigError, describe, redactValue, type ConfigErrorCode } from './errors.js';
import { unstorableTextProblem } from './storable-text.js';

/** A schema of this mechanism: any zod/mini schema. */
export type Schema<Output> = z.ZodMiniType<Output>;

/** A fragment of JSON Schema. */
export type JsonShape = z.core.JSONSchema.BaseSchema;

/**
 * The JSON Schema of each check written in code (a URL, a duration, a slot id), by schema: zod
 * cannot see into a transform, so each helper below states the shape its check allows here, and
 * the config file's schema generator (src/service) reads it as zod metadata.
 */
export const jsonShapes = z.registry<JsonShape>();

/** Records the JSON Schema of `schema`, whose check zod cannot read, and returns the schema. */
export function withJson<T extends z.core.$ZodType>(schema: T, json: JsonShape | undefined): T {
  if (json !== undefined) jsonShapes.add(schema, json);
  return schema;
}

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
    error: (issue) => (issue.code === 'unrecognized_keys' ? unknownKey(noun, issue.keys[0]!, keys) : expected),
  });
}

/** The message of an unknown key; {@link collectOptions} writes one per key with the same words. */
function unknownKey(noun: string, key: string, allowedKeys: string): string {
  return `unknown ${noun} \`${key}\`; allowed: ${allowedKeys}`;
}

/**
 * A value that `accept` approves, else the issue `allowed` (e.g. a client checked by its shape).
 * @param json - what it allows, as JSON Schema, for a value a config file can hold
 */
export function shaped<T>(accept: (value: unknown) => boolean, allowed: string, json?: JsonShape) {
  return checked<T>((value) => (accept(value) ? undefined : allowed), json);
}

/**
 * A value checked by `problemOf`, which says what is allowed when the value is not, else nothing.
 * A missing key goes through the check too, so that a required option fails with its message.
 * @param json - what it allows, as JSON Schema, for a value a config file can hold
 */
export function checked<T>(problemOf: (value: unknown) => string | undefined, json?: JsonShape) {
  const schema = z.pipe(
    z.unknown(),
    z.transform((value: unknown, payload) => {
      const problem = problemOf(value);
      if (problem === undefined) return value as T;
      payload.issues.push({ code: 'custom', message: problem, input: value });
      return z.NEVER;
    }),
  );
  return withJson(schema, json);
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

/**
 * `false`, or an object `schema` accepts (a missing value is read as `{}`): an option that can be turned off.
 * @param json - what the object allows, as JSON Schema, for an option a config file holds
 */
export function falseOr<Output>(schema: Schema<Output>, json?: JsonShape) {
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
  return z.prefault(withJson(read, json && { anyOf: [{ const: false }, json] }), {});
}

/**
 * Any value or none: one that the caller checks itself, after the keys.
 * @param json - what the caller's check allows, as JSON Schema
 */
export function checkedLater(json?: JsonShape) {
  return withJson(z.optional(z.unknown()), json);
}

/** A string matching `pattern`. */
export function text(pattern: RegExp, allowed: string) {
  return withJson(z.string(allowed).check(z.regex(pattern, allowed)), { description: allowed });
}

/**
 * A string matching `pattern` that every store keeps as given: no NUL, no lone surrogate (see
 * storable-text.ts). For names that become Redis keys or PostgreSQL text.
 */
export function storableText(pattern: RegExp, allowed: string) {
  return checked<string>(
    (value) => {
      if (typeof value !== 'string' || !pattern.test(value)) return allowed;
      const problem = unstorableTextProblem(value);
      return problem === null ? undefined : `${problem}; ${allowed}`;
    },
    { type: 'string', pattern: pattern.source, description: allowed },
  );
}

/** A boolean. */
export function flag() {
  return z.boolean('allowed: true or false');
}

/** One of a few literal values. */
export function oneOf<const T extends string>(values: readonly T[]) {
  return shaped<T>((value) => values.includes(value as T), `allowed: ${values.map((v) => `"${v}"`).join(', ')}`, {
    type: 'string',
    enum: [...values],
  });
}

/** An integer of at least `min`, optionally `Infinity` too. */
export function integer(min: number, options: { infinity?: boolean; allowed?: string } = {}) {
  const allowed = options.allowed ?? `allowed: an integer >= ${min}${options.infinity ? ', or Infinity for no limit' : ''}`;
  return shaped<number>(
    (value) =>
      (Number.isSafeInteger(value) && (value as number) >= min) || (options.infinity === true && value === Number.POSITIVE_INFINITY),
    allowed,
    {
      type: 'integer',
      minimum: min,
      maximum: Number.MAX_SAFE_INTEGER,
      // JSON has no Infinity: a config file leaves the option out for no limit.
      description: options.infinity ? `${allowed} (in a config file: leave it out)` : allowed,
    },
  );
}

/**
 * A {@link Duration} (milliseconds, or `'30s'`, `'5m'`, …) read into milliseconds; `fallback`,
 * read the same way, stands in for a missing value. A bad one fails with code `ERR_BAD_DURATION`.
 */
export function duration(fallback: number | string, bounds?: DurationBounds) {
  // prefault, unlike a default, parses the fallback too: '5m' becomes 300000.
  return z.prefault(durationValue(bounds), fallback);
}

/** A {@link Duration} as {@link duration} reads it, or nothing: for one whose default is derived. */
export function optionalDuration(bounds?: DurationBounds) {
  return z.optional(durationValue(bounds));
}

function durationValue(bounds: DurationBounds | undefined) {
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
  return withJson(schema, durationJson(bounds));
}

/** The JSON Schema of a duration: milliseconds in the bounds, or a string of number-unit parts. */
export function durationJson(bounds: DurationBounds = {}): JsonShape {
  const { min = 1, max = maxDurationMs } = bounds;
  return {
    anyOf: [
      { type: 'number', minimum: min, maximum: max },
      { type: 'string', pattern: durationPattern.source },
    ],
    description: `milliseconds (${min} to ${max}), or a string such as '500ms', '30s', '5m', '1h30m' (units ms, s, m, h, d)`,
  };
}

/** What {@link collectOptions} found: the parsed options, or every problem. */
export type Collected<Output> = { ok: true; data: Output } | { ok: false; errors: ConfigError[] };

/**
 * Checks `input` against `schema` and returns what it parsed, or a {@link ConfigError} for each
 * problem: first one per unknown key (a typo of a required option would otherwise be reported as
 * missing), then the others in the order of the schema's keys.
 * @param prefix - as for {@link parseOptions}
 */
export function collectOptions<Output>(
  schema: Schema<Output>,
  input: unknown,
  prefix?: string | ((path: string) => string),
): Collected<Output> {
  const result = z.safeParse(schema, input, { reportInput: true });
  if (result.success) return { ok: true, data: result.data };
  const found = result.error.issues.flatMap((issue) => errorsOf(issue, prefix));
  const errors = [...found.filter((problem) => problem.unknownKey), ...found.filter((problem) => !problem.unknownKey)];
  return { ok: false, errors: errors.map((problem) => problem.error) };
}

/**
 * Checks `input` against `schema` and returns what it parsed.
 * @param prefix - prepended to every field path (e.g. `PeriodicDeferrerOptions`), or a function
 *   that names the field of a path (`queue` → `defer(options.queue)`); without it, a value that is
 *   no object at all is reported as `options`
 * @throws ConfigError naming the field, the bad value and what is allowed: the first that
 *   {@link collectOptions} finds
 */
export function parseOptions<Output>(schema: Schema<Output>, input: unknown, prefix?: string | ((path: string) => string)): Output {
  const collected = collectOptions(schema, input, prefix);
  if (collected.ok) return collected.data;
  throw collected.errors[0]!;
}

/** The errors of one zod issue: one, or one per key of an unknown-keys issue. */
function errorsOf(issue: z.core.$ZodIssue, prefix: string | ((path: string) => string) | undefined) {
  const name = (path: readonly PropertyKey[]) =>
    typeof prefix === 'function' ? prefix(fieldName('', path)) : fieldName(prefix, path) || 'options';
  if (issue.code === 'unrecognized_keys') {
    const first = issue.keys[0]!;
    return issue.keys.map((key) => ({
      unknownKey: true,
      // strictObject wrote the message for the first key (unknownKey above): the same words for each.
      error: configError(
        name([...issue.path, key]),
        (issue.input as Record<string, unknown> | undefined)?.[key],
        issue.message.replace(`\`${first}\``, `\`${key}\``),
        undefined,
      ),
    }));
  }
  const code = (issue as { params?: IssueParams }).params?.code;
  return [{ unknownKey: false, error: configError(name(issue.path), issue.input, issue.message, code) }];
}

function configError(field: string, value: unknown, allowed: string, code: ConfigErrorCode | undefined): ConfigError {
  // A connection URL given where it does not belong must not print its password, nor a bad token itself.
  const secret = /(^|\.)(token|password|secret)$/i.test(field) && typeof value === 'string';
  return new ConfigError(field, secret ? `*** (${value.length} characters)` : redactValue(value), allowed, code);
}

/** `tasks[1].cron`, `tasks["app.send"].retry`: the path as a user would write it, after `prefix`. */
export function fieldName(prefix: string | undefined, path: readonly PropertyKey[]): string {
  let name = prefix ?? '';
  for (const key of path) {
    if (typeof key === 'number') name += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) name += name ? `.${key}` : key;
    else name += `[${describe(String(key))}]`;
  }
  return name;
}
