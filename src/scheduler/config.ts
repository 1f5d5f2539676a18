import { parseDuration, type Duration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import { checkedLater, parseOptions, strictObject } from '../core/option-schema.js';

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
  /** Backend names, polled in this order. At least one. */
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

/** An object of these keys, each checked below; any other key is an error naming them. */
function keysOf(keys: readonly string[], expected: string) {
  return strictObject(Object.fromEntries(keys.map((key) => [key, checkedLater()])), expected, 'field');
}

const slotKeys = keysOf(
  ['slotId', 'slot_id', 'slotCls', 'slot_cls', 'backends', 'timeout', 'maxRuntime', 'max_runtime', 'slotKwargs', 'slot_kwargs'],
  'allowed: an object with slotId and backends',
);
const kwargKeys = ['timeout_after', 'timeoutAfter', 'timeout', 'max_runtime', 'maxRuntime'];
const kwargsKeys = keysOf(kwargKeys, `allowed: an object with ${kwargKeys.join(', ')}`);

/**
 * Validates a whole config and returns it normalised. Every error names the field (`slots[2].backends[0]`),
 * the bad value and what is allowed.
 * @throws ConfigError
 */
export function normalizeConfig(input: unknown, defaults: ConfigDefaults): SlotConfig[] {
  if (!Array.isArray(input)) throw new ConfigError('slots', input, 'allowed: an array of slot configs');
  const seen = new Map<string, number>();
  return input.map((raw, index) => {
    const slot = normalizeSlot(raw, `slots[${index}]`, defaults);
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

function normalizeSlot(raw: unknown, path: string, defaults: ConfigDefaults): SlotConfig {
  parseOptions(slotKeys, raw, path);
  const input = raw as Record<string, unknown>;
  const kwargs = pick(input, 'slotKwargs', 'slot_kwargs', path);
  const kwargsPath = `${path}.${'slotKwargs' in input ? 'slotKwargs' : 'slot_kwargs'}`;
  if (kwargs !== undefined) parseOptions(kwargsKeys, kwargs, kwargsPath);
  const kw = (kwargs ?? {}) as Record<string, unknown>;

  return {
    slotId: slotIdOf(pick(input, 'slotId', 'slot_id', path), `${path}.slotId`),
    slotCls: slotClassOf(pick(input, 'slotCls', 'slot_cls', path), `${path}.slotCls`, defaults),
    backends: backendsOf(input.backends, `${path}.backends`, defaults),
    timeoutMs: timeoutOf(input, kw, path, kwargsPath, defaults),
    maxRuntimeMs: maxRuntimeOf(input, kw, path, kwargsPath),
  };
}

function slotIdOf(value: unknown, field: string): string {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'string' && /^[\w.:-]{1,128}$/.test(value)) return value;
  throw new ConfigError(field, value, 'allowed: an integer, or a string of 1 to 128 letters, digits, _ . : -');
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

function backendsOf(value: unknown, field: string, defaults: ConfigDefaults): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new ConfigError(field, value, 'allowed: a non-empty array of registered backend names', 'ERR_EMPTY_BACKENDS');
  }
  value.forEach((name, i) => {
    if (typeof name !== 'string' || !defaults.backends.includes(name)) {
      const registered = defaults.backends.length ? defaults.backends.join(', ') : '(none; call registerBackend first)';
      throw new ConfigError(`${field}[${i}]`, name, `unknown backend; registered: ${registered}`, 'ERR_UNKNOWN_BACKEND');
    }
    if (value.indexOf(name) !== i) {
      throw new ConfigError(`${field}[${i}]`, name, `each backend may appear once per slot`, 'ERR_DUPLICATE_BACKEND');
    }
  });
  return [...value] as string[];
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
