import { ConfigError } from './errors.js';

/**
 * A duration: a number of milliseconds, or a string of one or more `<number><unit>` parts with
 * units `ms`, `s`, `m`, `h`, `d` (e.g. `'250ms'`, `'30s'`, `'5m'`, `'1h30m'`).
 */
export type Duration = number | string;

const unitMs: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** The longest delay Node timers honour (2^31 - 1 ms); a longer one would fire at once. */
export const maxDurationMs = 2 ** 31 - 1;
const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
/** A whole duration string as {@link readDuration} reads it, for JSON Schema. */
export const durationPattern = /^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$/;

const allowed = "allowed: a number of milliseconds, or a string such as '500ms', '30s', '5m', '1h30m' (units ms, s, m, h, d)";

/** The range a duration must fall in, in milliseconds. */
export interface DurationBounds {
  /** The least value allowed (default 1). */
  min?: number;
  /** The greatest value allowed (default 2^31 - 1, the longest delay Node timers honour). */
  max?: number;
}

/**
 * Reads a {@link Duration} into whole milliseconds, or says what is allowed when it is not one:
 * the one reader behind {@link parseDuration} and the option schemas.
 */
export function readDuration(value: unknown, bounds: DurationBounds = {}): { ms: number } | { allowed: string } {
  const { min = 1, max = maxDurationMs } = bounds;
  let ms: number | undefined;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const text = value.trim();
    part.lastIndex = 0;
    let total = 0;
    let match: RegExpExecArray | null;
    while (part.lastIndex < text.length && (match = part.exec(text))) {
      total += Number(match[1]) * unitMs[match[2]!]!;
    }
    if (text.length > 0 && part.lastIndex === text.length) ms = total;
  }
  if (ms === undefined || !Number.isFinite(ms)) return { allowed };
  ms = Math.round(ms);
  if (ms < min || ms > max) {
    return { allowed: `allowed: between ${min} ms and ${max} ms${max === maxDurationMs ? ' (about 24.8 days)' : ''}` };
  }
  return { ms };
}

/**
 * Parses a {@link Duration} into whole milliseconds.
 * @param field - the config path named in the error, e.g. `slots[0].timeout`
 * @param bounds - the range allowed, in ms (default 1 to 2^31 - 1)
 * @throws ConfigError (code `ERR_BAD_DURATION`) naming the field, the bad value and what is allowed
 */
export function parseDuration(value: unknown, field: string, bounds: DurationBounds = {}): number {
  const read = readDuration(value, bounds);
  if ('allowed' in read) throw new ConfigError(field, value, read.allowed, 'ERR_BAD_DURATION');
  return read.ms;
}
