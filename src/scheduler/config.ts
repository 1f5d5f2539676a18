import { parseDuration, type Duration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import * as z from 'zod/mini';
import { checkedLater, collectOptions, durationJson, strictObject } from '../core/option-schema.js';

/**
 * One slot of a config, as code or JSON gives it. Both spellings load: camelCase, and the
 * snake_case of the Python original, whose `slot_kwargs.timeout_after` is in minutes:
 * `{ backends: ['MyBackend'], slot_cls: 'RedisSlot', slot_id: 1, slot_kwargs: { timeout_after: 60 } }`.
 */
export interface SlotConfigInput {
  /** Unique within the config; numbers become strings. */
  slotId?: string | number;
  slot_id?: string | number;
  /** A registered slot class: `MemorySlot`, `RedisSlot`, `PostgresSlot` or your own. Defaults to the scheduler's `defaultSlotClass`. */
  slotCls?: string;
  slot_cls?: string;
  /** Backend names, polled in this order; empty for a slot that only `acquire()` and `run()` fill. */
  backends: readonly string[];
  /** Time without keepalive after which the task times out. Defaults to the scheduler's `timeout`. */
  timeout?: Duration;
  /** Cap on total runtime, keepalives or not. No cap by default. */
  maxRuntime?: Duration;
  max_runtime?: Duration;
  /** The Python original's slot arguments: `timeout_after` (minutes), and `timeout`/`max_runtime` as above. */
  slotKwargs?: SlotKwargs;
  slot_kwargs?: SlotKwargs;
}

export interface SlotKwargs {
  /** Minutes, as in the Python original. */
  timeout_after?: number;
  timeoutAfter?: number;
  timeout?: Duration;
  max_runtime?: Duration;
  maxRuntime?: Duration;
}

/**
 * The shortest task timeout: a start is refused as lapsed when its reply comes within a margin of
 * at least 20 ms of the deadline, so a shorter timeout could never start a task (every polled id
 * would go back to its backend at once, again and again).
 */
export const minTaskTimeoutMs = 100;

/** A validated slot config. */
export interface SlotConfig {
  slotId: string;
  slotCls: string;
  backends: readonly string[];
  timeoutMs: number;
  maxRuntimeMs: number | null;
}

export interface ConfigDefaults {
  slotCls: string;
  timeoutMs: number;
  /** Registered slot class names, for validation and error messages. */
  slotClasses: readonly string[];
  /** Registered backend names. */
  backends: readonly string[];
}

const slotIdPattern = /^[\w.:-]{1,128}$/;
const slotIdAllowed = 'allowed: an integer, or a string of 1 to 128 letters, digits, _ . : -';

/** What each kwarg allows, as JSON Schema; the checks are the code below. */
const kwargShape = {
  timeout_after: checkedLater({ type: 'number', exclusiveMinimum: 0, description: 'minutes, as in the Python original' }),
  timeoutAfter: checkedLater({ type: 'number', exclusiveMinimum: 0, description: 'minutes, as in the Python original' }),
  timeout: checkedLater(durationJson({ min: minTaskTimeoutMs })),
  max_runtime: checkedLater(durationJson()),
  maxRuntime: checkedLater(durationJson()),
};
const kwargKeys = Object.keys(kwargShape);
const kwargsKeys = z.optional(strictObject(kwargShape, `allowed: an object with ${kwargKeys.join(', ')}`, 'field'));

/**
 * The keys of one slot config, each checked by the code below (any other key is an error naming
 * them), with the JSON Schema of what that code allows: a config file's schema is made of it.
 */
export const slotConfigShape = {
  slotId: checkedLater({ anyOf: [{ type: 'integer' }, { type: 'string', pattern: slotIdPattern.source }], description: slotIdAllowed }),
  slot_id: checkedLater({ anyOf: [{ type: 'integer' }, { type: 'string', pattern: slotIdPattern.source }], description: slotIdAllowed }),
  slotCls: checkedLater({
    type: 'string',
    minLength: 1,
    description: 'a registered slot class: MemorySlot, RedisSlot, PostgresSlot or your own',
  }),
  slot_cls: checkedLater({
    type: 'string',
    minLength: 1,
    description: 'a registered slot class: MemorySlot, RedisSlot, PostgresSlot or your own',
  }),
  backends: checkedLater({
    type: 'array',
    items: { type: 'string', minLength: 1 },
    uniqueItems: true,
    description: 'names of registered backends, polled in this order; none for a slot that only acquire() and run() fill',
  }),
  timeout: checkedLater(durationJson({ min: minTaskTimeoutMs })),
  maxRuntime: checkedLater({ anyOf: [durationJson(), { type: 'null' }] }),
  max_runtime: checkedLater({ anyOf: [durationJson(), { type: 'null' }] }),
  slotKwargs: kwargsKeys,
  slot_kwargs: kwargsKeys,
};

const slotKeys = strictObject(slotConfigShape, 'allowed: an object with slotId and backends', 'field');

/**
 * Validates a whole config and returns it normalised. Every error names the field (`slots[2].backends[0]`),
 * the bad value and what is allowed.
 * @throws ConfigError: the first problem of the first slot that has one
 */
export function normalizeConfig(input: unknown, defaults: ConfigDefaults): SlotConfig[] {
  if (!Array.isArray(input)) throw new ConfigError('slots', input, 'allowed: an array of slot configs');
  const seen = new Map<string, number>();
  return input.map((raw, index) => {
    const { slot, errors } = checkSlot(raw, `slots[${index}]`, defaults);
    if (slot === undefined) throw errors[0]!;
    const first = seen.get(slot.slotId);
    if (first !== undefined) {
      throw new ConfigError(
        `slots[${index}].slotId`,
        slot.slotId,
        `slot ids must be unique; slots[${first}] has the same id`,
        'ERR_DUPLICATE_SLOT_ID',
      );
    }
    seen.set(slot.slotId, index);
    return slot;
  });
}

/**
 * Validates one slot config, collecting every problem (unknown keys first): the slot, or the
 * errors. Ids unique across slots are the caller's to check.
 * @param path - names the slot in errors, e.g. `slots[2]`
 */
export function checkSlot(raw: unknown, path: string, defaults: ConfigDefaults): { slot?: SlotConfig; errors: ConfigError[] } {
  const keys = collectOptions(slotKeys, raw, path);
  const errors = keys.ok ? [] : [...keys.errors];
  if (!isObject(raw)) return { errors };
  const input = raw;
  /** The result of one check, or undefined after recording its error. */
  const attempt = <T>(check: () => T): T | undefined => {
    try {
      return check();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      errors.push(error);
      return undefined;
    }
  };
  const kwargs = attempt(() => pick(input, 'slotKwargs', 'slot_kwargs', path));
  const kwargsPath = `${path}.${'slotKwargs' in input ? 'slotKwargs' : 'slot_kwargs'}`;
  // Bad kwargs were reported by the keys above; the fields read them as none.
  const kw = isObject(kwargs) ? kwargs : {};

  const slotId = attempt(() => slotIdOf(pick(input, 'slotId', 'slot_id', path), `${path}.slotId`));
  const slotCls = attempt(() => slotClassOf(pick(input, 'slotCls', 'slot_cls', path), `${path}.slotCls`, defaults));
  const backends = backendsOf(input.backends, `${path}.backends`, defaults, errors);
  const timeoutMs = attempt(() => timeoutOf(input, kw, path, kwargsPath, defaults));
  const maxRuntimeMs = attempt(() => maxRuntimeOf(input, kw, path, kwargsPath));
  if (errors.length > 0) return { errors };
  return { slot: { slotId: slotId!, slotCls: slotCls!, backends: backends!, timeoutMs: timeoutMs!, maxRuntimeMs: maxRuntimeMs! }, errors };
}

/** The problem of a slot id, or nothing: for ids given elsewhere than a slot's `slotId`. */
export function slotIdProblem(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return undefined;
  if (typeof value === 'string' && slotIdPattern.test(value)) return undefined;
  return slotIdAllowed;
}

function slotIdOf(value: unknown, field: string): string {
  if (slotIdProblem(value) !== undefined) throw new ConfigError(field, value, slotIdAllowed);
  return String(value);
}

function slotClassOf(value: unknown, field: string, defaults: ConfigDefaults): string {
  // A slot without its own class takes the scheduler's defaultSlotClass, which must be registered too.
  const [slotCls, named] = value === undefined ? [defaults.slotCls, 'defaultSlotClass'] : [value, field];
  if (typeof slotCls === 'string' && defaults.slotClasses.includes(slotCls)) return slotCls;
  throw unknownSlotClass(named, slotCls, defaults.slotClasses);
}

/** The error of a slot class that is not registered, naming where it was given and the registered ones. */
export function unknownSlotClass(field: string, value: unknown, registered: readonly string[]): ConfigError {
  return new ConfigError(
    field,
    value,
    `unknown slot class; registered: ${registered.join(', ')} (registerSlotClass adds one)`,
    'ERR_UNKNOWN_SLOT_CLASS',
  );
}

/** The backends of a slot, or undefined after recording the problem of each bad entry in `errors`. */
function backendsOf(value: unknown, field: string, defaults: ConfigDefaults, errors: ConfigError[]): string[] | undefined {
  if (!Array.isArray(value)) {
    errors.push(
      new ConfigError(
        field,
        value,
        'allowed: an array of registered backend names (empty: a slot only acquire() fills)',
        'ERR_BAD_BACKENDS',
      ),
    );
    return undefined;
  }
  const before = errors.length;
  value.forEach((name, i) => {
    if (typeof name !== 'string' || !defaults.backends.includes(name)) {
      const registered = defaults.backends.length ? defaults.backends.join(', ') : '(none; call registerBackend first)';
      errors.push(new ConfigError(`${field}[${i}]`, name, `unknown backend; registered: ${registered}`, 'ERR_UNKNOWN_BACKEND'));
    } else if (value.indexOf(name) !== i) {
      errors.push(new ConfigError(`${field}[${i}]`, name, `each backend may appear once per slot`, 'ERR_DUPLICATE_BACKEND'));
    }
  });
  return errors.length === before ? ([...value] as string[]) : undefined;
}

function timeoutOf(
  input: Record<string, unknown>,
  kw: Record<string, unknown>,
  path: string,
  kwargsPath: string,
  defaults: ConfigDefaults,
): number {
  const bounds = { min: minTaskTimeoutMs };
  if (input.timeout !== undefined) return parseDuration(input.timeout, `${path}.timeout`, bounds);
  if (kw.timeout !== undefined) return parseDuration(kw.timeout, `${kwargsPath}.timeout`, bounds);
  const minutes = pick(kw, 'timeoutAfter', 'timeout_after', kwargsPath);
  const field = `${kwargsPath}.${'timeoutAfter' in kw ? 'timeoutAfter' : 'timeout_after'}`;
  if (minutes === undefined) return defaults.timeoutMs;
  if (typeof minutes !== 'number' || !(minutes > 0)) {
    throw new ConfigError(field, minutes, 'allowed: a positive number of minutes', 'ERR_BAD_DURATION');
  }
  return parseDuration(minutes * 60_000, field, bounds);
}

function maxRuntimeOf(input: Record<string, unknown>, kw: Record<string, unknown>, path: string, kwargsPath: string): number | null {
  for (const [source, field] of [
    [input, path],
    [kw, kwargsPath],
  ] as const) {
    const value = pick(source, 'maxRuntime', 'max_runtime', field);
    const key = 'maxRuntime' in source ? 'maxRuntime' : 'max_runtime';
    if (value !== undefined && value !== null) return parseDuration(value, `${field}.${key}`);
  }
  return null;
}

/** Reads a field given in camelCase or snake_case; giving both is an error. */
function pick(input: Record<string, unknown>, camel: string, snake: string, path: string): unknown {
  if (input[camel] !== undefined && input[snake] !== undefined) {
    throw new ConfigError(`${path}.${snake}`, input[snake], `give either ${camel} or ${snake}, not both`);
  }
  return input[camel] ?? input[snake];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
