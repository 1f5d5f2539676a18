/**
 * Fuzzed Procrastinate jobs. From Node: `ProcrastinateClient.defer` takes args, task names, queues
 * and locks of every kind, and either stores them exactly (read back from the row) or refuses them
 * with a ConfigError naming the field, before anything reaches PostgreSQL. From SQL, as Python or
 * anyone else defers them: jobs with huge, deep, unicode or oddly numeric args, unknown or odd
 * task names and metacharacter locks run with their args intact or end `failed` with the reason
 * logged; the worker never crashes, and no job is left `doing`.
 */
import { isDeepStrictEqual } from 'node:util';
import test from 'ava';
import fc from 'fast-check';
import { ProcrastinateClient } from '../../backends/procrastinate/index.js';
import { procrastinateDb } from '../helpers/procrastinate.js';
import { ConfigError } from '../../src/errors.js';
import { outcomeOfAsync } from './config-errors.js';
import { anyValue, fuzzParameters, metaString, oddString } from './fuzz-kit.js';

/** A JSON object of keyword arguments with odd keys and values, as Python would send. */
const jsonArgs = fc.dictionary(oddString(50), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 5 });

/** A value nested `depth` levels deep in arrays and objects. */
const nested = (depth: number, leaf: unknown): unknown => {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { v: value };
  return value;
};

/** What a careless caller passes as args from JavaScript: JSON, and what JSON cannot hold as given. */
const jsArgs = fc.oneof(
  { arbitrary: jsonArgs, weight: 4 },
  {
    arbitrary: fc.tuple(oddString(20), fc.constantFrom<() => unknown>(
      () => 10n,
      () => Number.NaN,
      () => Infinity,
      () => () => 1,
      () => Symbol('s'),
      () => new Map([['a', 1]]),
      () => new Set([1]),
      () => new Date(0),
      () => [undefined],
      () => undefined,
      () => 'a\u0000b',
      () => 'lone \ud800 surrogate',
      () => ({ ['k\u0000']: 1 }),
      () => nested(400, 'deep'),
      () => nested(501, 'deeper'),
      () => 'x'.repeat(200_000),
      () => -0,
      () => 1e308,
      () => 2 ** 53 + 1,
    )).map(([key, make]) => ({ [key]: make() })),
    weight: 3,
  },
  { arbitrary: fc.constant(null).map(() => { const cycle: Record<string, unknown> = {}; cycle.self = cycle; return cycle; }), weight: 1 },
  { arbitrary: anyValue(), weight: 1 },
);

test('defer from JS: the row holds exactly what was given, or a ConfigError names the field first', async (t) => {
  const { pool } = await procrastinateDb(t);
  const client = new ProcrastinateClient({ postgres: pool });
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      jsArgs,
      fc.oneof(fc.constant('app.task'), oddString(140)),
      fc.oneof(fc.constant(undefined), fc.constantFrom('default', '€'.repeat(13), 'x'.repeat(41)), metaString(4)),
      fc.oneof(fc.constant(null), oddString(100)),
      fc.oneof(fc.constant(null), oddString(100)),
      async (args, taskName, queue, lock, queueingLock) => {
        // A queueing lock of its own per run: a repeat would rightly be AlreadyEnqueuedError.
        const options = { queue, lock, queueingLock: queueingLock === null ? null : `${queueingLock}#${n++}` };
        const fields = ['defer(taskName)', 'defer(args)', /defer\(args\).*/, ...['queue', 'lock', 'queueingLock'].map((k) => `defer(options.${k})`)];
        const deferred = await outcomeOfAsync(t, () => client.defer(taskName, args as never, options), fields);
        if (!deferred.ok) return;
        const job = await client.getJob(deferred.value);
        const expected = { taskName, queue: queue ?? 'default', lock, queueingLock: options.queueingLock, args: JSON.parse(JSON.stringify(args ?? {})) as unknown };
        const stored = { taskName: job?.taskName, queue: job?.queue, lock: job?.lock, queueingLock: job?.queueingLock, args: job?.args };
        if (!isDeepStrictEqual(stored, expected)) throw new Error(`stored ${preview(stored)}, given ${preview(expected)}`);
      },
    ),
    fuzzParameters(150),
  );
});

test('defer from JS names the value at fault inside args, and why', async (t) => {
  const { pool } = await procrastinateDb(t);
  const client = new ProcrastinateClient({ postgres: pool });
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  for (const [args, field, why] of [
    [{ to: ['a', 'b\u0000'] }, 'defer(args).to[1]', /NUL character, which PostgreSQL cannot store/],
    [{ 'odd key': '\ud800' }, 'defer(args)["odd key"]', /lone UTF-16 surrogate/],
    [{ id: 10n }, 'defer(args).id', /bigint, which JSON cannot write \(pass it as a string\)/],
    [{ ratio: Number.NaN }, 'defer(args).ratio', /NaN, which JSON writes as null/],
    [{ list: [undefined] }, 'defer(args).list[0]', /undefined, which JSON writes as null in an array/],
    [{ seen: new Set([1]) }, 'defer(args).seen', /a Set, which JSON writes as a plain object/],
    [{ cb: () => 1 }, 'defer(args).cb', /a function, which JSON leaves out/],
    [cycle, 'defer(args).self', /cycle/],
    [{ deep: nested(501, 1) }, /^defer\(args\)\.deep\[0\]\.v.*…/, /nested deeper than 500 levels/],
  ] as const) {
    const error = await t.throwsAsync(client.defer('app.task', args as never), { instanceOf: ConfigError });
    if (typeof field === 'string') t.is(error?.field, field);
    else t.regex(error?.field ?? '', field);
    t.regex(error?.message ?? '', why);
  }
  // A key set to undefined is left out, as JSON does: Python then uses the parameter's default.
  const id = await client.defer('app.task', { to: 'a@b.c', cc: undefined });
  t.deepEqual((await client.getJob(id))?.args, { to: 'a@b.c' });
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM procrastinate_jobs');
  t.is(rows[0]!.n, 1, 'nothing but the last job reached the table');
});

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
