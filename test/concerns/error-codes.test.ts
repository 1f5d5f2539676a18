/**
 * README's error tables and the code agree: every code of an area's list (`schedulerErrorCodes`,
 * `storeErrorCodes`, `procrastinateErrorCodes`) has a row in its table and no row names a code
 * that does not exist; every exported error class (of the main entry point, the Procrastinate
 * backend and the service) has a row that names it with its code.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as procrastinate from '../../backends/procrastinate/index.js';
import * as library from '../../src/index.js';
import * as service from '../../src/service/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');

interface Row {
  /** The class the row names first, e.g. `TaskIdError` for "`TaskIdError` (a `ConfigError`)". */
  className: string;
  codes: string[];
}

/** The rows of the first table under `heading`, up to the next heading of its level or above. */
function tableUnder(heading: string): Row[] {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no "${heading}"`);
  const level = heading.split(' ')[0]!;
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  const rows = rest
    .slice(0, end < 0 ? undefined : end)
    .split('\n')
    .filter((line) => line.startsWith('| `'));
  return rows.map((line) => {
    const [first = '', second = ''] = line.split('|').slice(1);
    return { className: /`(\w+)`/.exec(first)?.[1] ?? '', codes: [...second.matchAll(/`(ERR_\w+)`/g)].map((m) => m[1]!) };
  });
}

const errorsTable = tableUnder('## Errors');
const procrastinateTable = tableUnder('### Procrastinate errors');
const codesOf = (rows: Row[]) => new Set(rows.flatMap((row) => row.codes));

test("README's error table has a row for each code of the core, the scheduler and the stores, and no other", (t) => {
  const documented = codesOf(errorsTable);
  const known = new Set<string>([...library.schedulerErrorCodes, ...library.storeErrorCodes]);
  t.deepEqual(
    [...known].filter((code) => !documented.has(code)),
    [],
    'codes missing from the table',
  );
  t.deepEqual(
    [...documented].filter((code) => !known.has(code)),
    [],
    'codes the table names that do not exist',
  );
});

test("README's Procrastinate error table has a row for each code of the backend, and no unknown one", (t) => {
  const documented = codesOf(procrastinateTable);
  const own = new Set<string>(procrastinate.procrastinateErrorCodes);
  // The backend's ConfigErrors carry ERR_CONFIG too, documented beside its own codes.
  const known = new Set<string>([...own, ...library.configErrorCodes]);
  t.deepEqual(
    [...own].filter((code) => !documented.has(code)),
    [],
    'codes missing from the table',
  );
  t.deepEqual(
    [...documented].filter((code) => !known.has(code)),
    [],
    'codes the table names that do not exist',
  );
});

test("the areas' code lists do not overlap", (t) => {
  const all = [...library.schedulerErrorCodes, ...library.storeErrorCodes, ...procrastinate.procrastinateErrorCodes];
  t.is(new Set(all).size, all.length);
});

/** One instance of every exported error class, to read the `name` and `code` it has. */
const samples: library.TaskSemaphoreError[] = [
  new library.ConfigError('field', 1, 'allowed: 2'),
  new library.TaskIdError('taskId', '', 'is empty', 'a non-empty string'),
  new library.PollResultError('b', '1', 5),
  new library.CallTimeoutError('poll', 10, {}),
  new library.StoreUnavailableError('Redis', 'redis://localhost', new Error('refused')),
  new library.StoreError('Redis', 'redis://localhost', 'start-3', new Error('refused')),
  new library.StoreConflictError('t', 5),
  new library.MissingPeerError('pg', 'PostgresSlot', new Error('not found')),
  new library.SchedulerStateError('closed'),
  new library.TaskAbortedError('timeout', { taskId: 't' }),
  new library.TaskNotAcquiredError('t', 'busy'),
  new procrastinate.ProcrastinateSchemaError('missing'),
  new procrastinate.AlreadyEnqueuedError('lock', new Error('23505')),
  new procrastinate.JobAbortedError('shutdown', '1'),
  new procrastinate.UnknownTaskError('task', '1', 'q', []),
  new procrastinate.JobArgsError('task', '1', 'that are no object'),
  new service.ConfigFileError('config.json', [
    { path: 'cron', value: 1, allowed: 'allowed: a string', code: 'ERR_CONFIG', message: 'cron: got 1' },
  ]),
];

/** Every error class the package exports, but the base. */
const exportedClasses = ([...Object.values(library), ...Object.values(procrastinate), ...Object.values(service)] as unknown[]).filter(
  (value: unknown): value is new (...args: never[]) => Error =>
    typeof value === 'function' && value.prototype instanceof library.TaskSemaphoreError,
);

test('each exported error class has a README row naming it with its code', (t) => {
  t.true(exportedClasses.length >= samples.length);
  for (const errorClass of new Set(exportedClasses)) {
    const sample = samples.find((error) => error.constructor === errorClass);
    if (!sample) {
      t.fail(`no sample of ${errorClass.name} in this test: add one`);
      continue;
    }
    const rows = [...errorsTable, ...procrastinateTable].filter((row) => row.className === sample.name);
    t.true(
      rows.some((row) => row.codes.includes(sample.code)),
      `README names no row "${sample.name}" with code ${sample.code}`,
    );
  }
});

test("every class README's error tables name is exported", (t) => {
  const exported = new Set(exportedClasses.map((errorClass) => errorClass.name));
  for (const row of [...errorsTable, ...procrastinateTable]) t.true(exported.has(row.className), `README names ${row.className}`);
});
