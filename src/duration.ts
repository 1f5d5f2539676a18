import { ConfigError } from './errors.js';

/**
 * A duration: a number of milliseconds, or a string of one or more `<number><unit>` parts with
 * units `ms`, `s`, `m`, `h`, `d` (e.g. `'250ms'`, `'30s'`, `'5m'`, `'1h30m'`).
 */
export type Duration = number | string;

const unitMs: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** The longest delay Node timers honour (2^31 - 1 ms); a longer one would fire at once. */
const maxMs = 2 ** 31 - 1;
const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

const allowed = "allowed: a number of milliseconds, or a string such as '500ms', '30s', '5m', '1h30m' (units ms, s, m, h, d)";

/**
 * Parses a {@link Duration} into whole milliseconds.
 * @param field - the config path named in the error, e.g. `slots[0].timeout`
 * @param options.min - the least value allowed, in ms (default 1)
 * @throws ConfigError naming the field, the bad value and what is allowed
 */
export function parseDuration(value: unknown, field: string, options: { min?: number } = {}): number {
  const min = options.min ?? 1;
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
  if (ms === undefined || !Number.isFinite(ms)) throw new ConfigError(field, value, allowed, 'ERR_BAD_DURATION');
  ms = Math.round(ms);
  if (ms < min || ms > maxMs) {
    throw new ConfigError(field, value, `allowed: between ${min} ms and ${maxMs} ms (about 24.8 days)`, 'ERR_BAD_DURATION');
  }
  return ms;
}
