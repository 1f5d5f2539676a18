/**
 * Procrastinate's cron syntax, read as Python reads it, and written for node-cron.
 *
 * Procrastinate hands `@app.periodic(cron=…)` to croniter, in UTC: 5 fields (minute, hour,
 * day of month, month, day of week), or 6 with the seconds LAST. node-cron puts the seconds
 * FIRST, so the same 6-field text means two schedules (`* * * * * *\/10` is every 10 seconds for
 * Python, every second of Sundays for node-cron). croniter also runs a job on either day when both
 * day fields are restricted (`0 0 1 * 1`: the 1st and every Monday), where node-cron wants both.
 *
 * Only the grammar both libraries read alike (in every croniter release Procrastinate may use) is
 * accepted; the rest is refused by name rather than guessed.
 */
import { ConfigError } from '../../src/core/errors.js';

/** One field of Procrastinate's expression: its name, bounds and value names. */
interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
}

const minute: FieldSpec = { name: 'minute', min: 0, max: 59 };
const hour: FieldSpec = { name: 'hour', min: 0, max: 23 };
const dayOfMonth: FieldSpec = { name: 'day of month', min: 1, max: 31 };
const month: FieldSpec = {
  name: 'month',
  min: 1,
  max: 12,
  names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
};
// 7 is Sunday too, on both sides; ranges must use 0 (their wrap-around rules differ).
const dayOfWeek: FieldSpec = { name: 'day of week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] };
const second: FieldSpec = { name: 'second', min: 0, max: 59 };

/** Procrastinate's field order: the seconds, when given, come last. */
const fieldOrder = [minute, hour, dayOfMonth, month, dayOfWeek, second];

/** croniter's and node-cron's shared nicknames, as the 5 fields both expand them to. */
const nicknames: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const allowedForms =
  "allowed: Procrastinate's cron syntax, 5 fields (minute hour day-of-month month day-of-week) or 6 with the seconds last " +
  "('* * * * * */10': every 10 seconds), each field *, N, N-M, */S, N-M/S or a list of those (names jan-dec, sun-sat); " +
  'or @hourly, @daily, @weekly, @monthly, @yearly';

/**
 * Reads a Procrastinate cron expression and returns the node-cron expressions (6 fields, seconds
 * first) whose ticks are its ticks: one, or two when both day fields are restricted (their union
 * is croniter's either-day rule; a tick both match is deferred once, like any tick).
 * @param field - what to name in errors, e.g. `PeriodicDeferrerOptions.tasks[0].cron`
 * @throws ConfigError naming the field, the expression and the part at fault
 */
export function toNodeCron(expression: unknown, field: string): string[] {
  if (typeof expression !== 'string') throw new ConfigError(field, expression, allowedForms);
  const refuse = (why: string): never => {
    throw new ConfigError(field, expression, `${why}; ${allowedForms}`);
  };
  const text = nicknames[expression.trim().toLowerCase()] ?? expression.trim();
  const parts = text.split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) refuse(`${parts.length} fields`);
  if (parts.length === 6 && parts[5] === '*' && parts.slice(0, 5).some((part) => part !== '*')) {
    // The usual node-cron habit (seconds first): Python would run it every second of those minutes.
    refuse(
      `the seconds field (last, as Procrastinate reads it) is '*', so this runs every second of the times the other fields allow; ` +
        `node-cron's seconds-first order is not accepted here: move the seconds to the end, or write them as 0-59 if every second is meant`,
    );
  }
  const fields = parts.map((part, i) => readField(part, fieldOrder[i]!, refuse));
  const [min, hr, dom, mon, dow] = fields as [Field, Field, Field, Field, Field];
  const sec = fields[5] ?? { text: '0', values: new Set([0]) };
  const head = `${sec.text} ${min.text} ${hr.text}`;
  if (dom.text === '*' || dow.text === '*') return [`${head} ${dom.text} ${mon.text} ${dow.text}`];
  // croniter counts a field that lists every value as unrestricted in some releases, not in others.
  if (dom.values.size === 31 || dow.values.size === 7) {
    refuse(`both day fields are restricted and one lists every value; write it as '*'`);
  }
  return [`${head} ${dom.text} ${mon.text} *`, `${head} * ${mon.text} ${dow.text}`];
}

/** A field checked: its text for node-cron (names as numbers) and the values it allows. */
interface Field {
  text: string;
  values: Set<number>;
}

function readField(part: string, spec: FieldSpec, refuse: (why: string) => never): Field {
  const values = new Set<number>();
  const items = part
    .toLowerCase()
    .split(',')
    .map((item) => {
      const match = /^(\*|[a-z0-9]+|[a-z0-9]+-[a-z0-9]+)(?:\/(\d+))?$/.exec(item);
      if (!match) refuse(`${spec.name} field '${part}': '${item}' is not *, N, N-M or a step of those`);
      const [, base, stepText] = match!;
      const step = stepText === undefined ? 1 : Number(stepText);
      if (step < 1) refuse(`${spec.name} field '${part}': a step must be at least 1`);
      if (stepText !== undefined && !base!.includes('-') && base !== '*') {
        refuse(`${spec.name} field '${part}': N/S is read differently by croniter releases; write N-M/S`);
      }
      const [low, high] = base === '*' ? [spec.min, spec.max] : base!.split('-').map((v) => readValue(v, spec, part, refuse));
      const last = high ?? low!;
      if (base !== '*' && high !== undefined) {
        if (low! >= high) refuse(`${spec.name} field '${part}': a range N-M needs N < M`);
        if (spec === dayOfWeek && high === 7) refuse(`${spec.name} field '${part}': write Sunday as 0 in a range`);
      }
      for (let v = low!; v <= last; v += step) values.add(spec === dayOfWeek && v === 7 ? 0 : v);
      return base === '*' ? item : `${low}${high === undefined ? '' : `-${high}`}${stepText === undefined ? '' : `/${step}`}`;
    });
  return { text: items.join(','), values };
}

function readValue(text: string, spec: FieldSpec, part: string, refuse: (why: string) => never): number {
  const named = spec.names?.indexOf(text) ?? -1;
  const value = named >= 0 ? named + (spec === month ? 1 : 0) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (Number.isNaN(value))
    refuse(`${spec.name} field '${part}': '${text}' is not a number${spec.names ? ` or a name (${spec.names.join(', ')})` : ''}`);
  if (value < spec.min || value > spec.max) refuse(`${spec.name} field '${part}': ${value} is out of ${spec.min}-${spec.max}`);
  return value;
}
