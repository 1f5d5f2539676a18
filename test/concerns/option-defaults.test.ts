/**
 * Each option and its default are written in three places that must agree: the `defaults` object
 * the code applies, the `@defaultValue` of the option's JSDoc, and README. Checked for the
 * scheduler (`defaults`, src/scheduler/options.ts, README's `new Scheduler(options)` section) and
 * the Procrastinate backend (`backendDefaults`, backend-options.ts, README's backend option table).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { backendDefaults, resolveBackendOptions } from '../../backends/procrastinate/backend-options.js';
import { ConfigError } from '../../src/core/errors.js';
import { defaults, resolveOptions } from '../../src/scheduler/options.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');

/** A default as README and JSDoc write it: `'5m'`, `1000`, `Infinity`, `false`. */
function written(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}

/** The option names an options check allows, read from its answer to an unknown option. */
function optionNames(resolve: (options: never) => unknown, required: object): string[] {
  try {
    resolve({ ...required, notAnOption: 1 } as never);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const allowed = /unknown option `notAnOption`; allowed: (.*)$/.exec(error.message)?.[1];
    if (allowed) return allowed.split(', ');
  }
  throw new Error('the options check accepted or misreported an unknown option');
}

/** README's text from the line `heading` to the next line starting with `end`. */
function section(heading: string, end: string): string {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no "${heading}"`);
  const rest = readme.slice(start + heading.length + 2);
  return rest.slice(0, rest.indexOf(`\n${end}`));
}

/** The `@defaultValue` of each option of `interfaceName` in `file`, as written (backticks dropped). */
function jsdocDefaults(file: string, interfaceName: string): Map<string, string> {
  const source = readFileSync(`${root}${file}`, 'utf8');
  const start = source.indexOf(`export interface ${interfaceName} {`);
  const body = source.slice(start, source.indexOf('\n}\n', start));
  const found = new Map<string, string>();
  for (const [, doc, name] of body.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*(\w+)\??:/g)) {
    const value = /@defaultValue\s+(`[^`]+`|\S+)/.exec(doc!)?.[1];
    if (value !== undefined) found.set(name!, value.replace(/^`|`$/g, ''));
  }
  return found;
}

test('the scheduler: README has a section for each option, and no other', (t) => {
  const options = optionNames(resolveOptions, { name: 'n' });
  const documented = [...section('### `new Scheduler(options)`', '### ').matchAll(/^#### `(\w+)`$/gm)].map((m) => m[1]!);
  t.deepEqual([...documented].sort(), [...options].sort());
  t.deepEqual(
    Object.keys(defaults).filter((key) => !options.includes(key)),
    [],
    'defaults of no option',
  );
});

test('the scheduler: each default of `defaults` is the one README and the JSDoc give', (t) => {
  const text = section('### `new Scheduler(options)`', '### ');
  const jsdoc = jsdocDefaults('src/scheduler/options.ts', 'SchedulerOptions');
  for (const [key, value] of Object.entries(defaults)) {
    const paragraph = text.split(`#### \`${key}\`\n`)[1]?.split('\n\n')[0] ?? '';
    t.is(/\bdefault (`[^`]+`)/.exec(paragraph)?.[1], `\`${written(value)}\``, `README's default of ${key}`);
    t.is(jsdoc.get(key), written(value), `@defaultValue of ${key}`);
  }
});

const backendRequired = { postgres: 'postgres://localhost/db', queues: ['q'], tasks: {} };

/** README's backend option table: option → its default column. */
function backendTable(): Map<string, string> {
  const rows = section('### Backend options', '### ')
    .split('\n')
    .filter((line) => line.startsWith('| `'));
  return new Map(
    rows.map((line) => {
      const [option = '', fallback = ''] = line
        .split('|')
        .slice(1)
        .map((cell) => cell.trim());
      return [option.replace(/`/g, ''), fallback];
    }),
  );
}

test("the Procrastinate backend: README's option table has a row for each option, and no other", (t) => {
  const options = optionNames(resolveBackendOptions, backendRequired);
  t.deepEqual([...backendTable().keys()].sort(), [...options].sort());
  t.deepEqual(
    Object.keys(backendDefaults).filter((key) => !options.includes(key)),
    [],
    'defaults of no option',
  );
});

test('the Procrastinate backend: each default of `backendDefaults` is the one README and the JSDoc give', (t) => {
  const table = backendTable();
  const jsdoc = jsdocDefaults('backends/procrastinate/backend-options.ts', 'ProcrastinateBackendOptions');
  for (const [key, value] of Object.entries(backendDefaults)) {
    t.is(table.get(key), `\`${written(value)}\``, `README's default of ${key}`);
    t.is(jsdoc.get(key), written(value), `@defaultValue of ${key}`);
  }
});
