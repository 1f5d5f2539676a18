/**
 * A history query from text, as people type it: on the command line (`history --outcome failed`)
 * and in a URL (`/history?outcome=failed,dropped&startedAfter=90m`). Lists are repeated or
 * comma-separated; a time bound is an ISO date or time, or a duration ago.
 */
import type { HistoryQuery } from '../contracts/history.js';
import { readDuration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';

export const timeBoundAllowed = 'allowed: an ISO date or time (2026-12-05T10:00Z), or a duration ago (90m, 2h, 7d)';

/** A time bound in ms since the epoch, or undefined when `value` is neither an ISO time nor a duration. */
export function readTimeBound(value: string): number | undefined {
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const ms = Date.parse(value);
    return Number.isFinite(ms) ? ms : undefined;
  }
  const ago = readDuration(value, { max: Number.MAX_SAFE_INTEGER });
  return 'ms' in ago ? Date.now() - ago.ms : undefined;
}

/** The list fields of a query, by the name a URL gives them. */
const listFields = ['taskId', 'outcome', 'reason', 'status', 'backend', 'slotId', 'owner'] as const;
const timeFields = ['startedAfter', 'startedBefore', 'endedAfter', 'endedBefore'] as const;

/**
 * A query from URL parameters (each a string, or several when repeated). The values are checked
 * by `scheduler.history()`; here only their text: times, the limit and unknown parameters.
 * @throws ConfigError naming the parameter, the bad value and what is allowed
 */
export function historyQueryFromParams(params: Readonly<Record<string, string | string[] | undefined>>): HistoryQuery {
  const allowedNames = [...listFields, ...timeFields, 'limit'];
  const query: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(params)) {
    if (raw === undefined) continue;
    const values = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => v.split(',')).filter((v) => v !== '');
    if ((listFields as readonly string[]).includes(name)) query[name] = values;
    else if ((timeFields as readonly string[]).includes(name)) {
      const value = values.at(-1) ?? '';
      const ms = readTimeBound(value);
      if (ms === undefined) throw new ConfigError(name, value, timeBoundAllowed);
      query[name] = ms;
    } else if (name === 'limit') {
      const value = values.at(-1) ?? '';
      if (!/^\d+$/.test(value)) throw new ConfigError('limit', value, 'allowed: a whole number from 1 to 10000');
      query.limit = Number(value);
    } else throw new ConfigError('query', name, `unknown parameter; allowed: ${allowedNames.join(', ')}`);
  }
  return query as HistoryQuery;
}

/**
 * A `history()` error about a query field (`history(query.outcome[1])`) renamed as the user wrote
 * the field: a flag, a URL parameter. `nameOf` gives the name of a query field, or undefined to
 * leave the error as it is; anything but such a ConfigError is returned as it is.
 */
export function renameHistoryField(error: unknown, nameOf: (queryField: string) => string | undefined): unknown {
  if (!(error instanceof ConfigError)) return error;
  const match = /^history\(query\.(\w+)(?:\[\d+\])?\)$/.exec(error.field);
  const name = match ? nameOf(match[1]!) : undefined;
  return name === undefined ? error : new ConfigError(name, error.value, error.allowed, error.code);
}
