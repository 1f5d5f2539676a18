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
import type pg from 'pg';
import fc from 'fast-check';
import { ProcrastinateBackend, ProcrastinateClient } from '../../backends/procrastinate/index.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { waitFor } from '../../src/testing/scheduler-kit.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { procrastinateDb, q } from '../helpers/procrastinate.js';
import { ConfigError } from '../../src/core/errors.js';
import { uniqueName } from '../helpers/services.js';
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
    arbitrary: fc
      .tuple(
        oddString(20),
        fc.constantFrom<() => unknown>(
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
        ),
      )
      .map(([key, make]) => ({ [key]: make() })),
    weight: 3,
  },
  {
    arbitrary: fc.constant(null).map(() => {
      const cycle: Record<string, unknown> = {};
      cycle.self = cycle;
      return cycle;
    }),
    weight: 1,
  },
  { arbitrary: anyValue(), weight: 1 },
);

test('defer from JS: the row holds exactly what was given, or a ConfigError names the field first', async (t) => {
  const { pool } = await procrastinateDb(t);
  const client = new ProcrastinateClient({ postgres: pool });
  let n = 0;
  let accepted = 0;
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
        const fields = [
          'defer(taskName)',
          'defer(args)',
          /defer\(args\).*/,
          ...['queue', 'lock', 'queueingLock'].map((k) => `defer(options.${k})`),
        ];
        const deferred = await outcomeOfAsync(t, () => client.defer(taskName, args as never, options), fields);
        if (!deferred.ok) return;
        accepted++;
        const job = await client.getJob(deferred.value);
        const expected = {
          taskName,
          queue: queue ?? 'default',
          lock,
          queueingLock: options.queueingLock,
          args: JSON.parse(JSON.stringify(args ?? {})) as unknown,
        };
        const stored = { taskName: job?.taskName, queue: job?.queue, lock: job?.lock, queueingLock: job?.queueingLock, args: job?.args };
        if (!isDeepStrictEqual(stored, expected)) throw new Error(`stored ${preview(stored)}, given ${preview(expected)}`);
      },
    ),
    fuzzParameters(150),
  );
  t.log(`${accepted} of the defers stored`);
  t.true(accepted >= 15, `${accepted} of the defers stored`);
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

/** A job as SQL can defer it: any JSON args, any task name, metacharacter locks. */
const sqlJob = fc.record({
  // The JSON text sent: JSON.stringify of a value, or text with numbers JavaScript cannot hold exactly.
  args: fc.oneof(
    { arbitrary: jsonArgs.map((v) => JSON.stringify(v)), weight: 5 },
    { arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), weight: 2 },
    {
      arbitrary: fc.constantFrom(
        JSON.stringify({ deep: nested(3000, 1) }),
        JSON.stringify({ deep: nested(1000, 'x') }),
        JSON.stringify({ huge: '€'.repeat(100_000) }),
        '{"n": -0}',
        '{"n": 1e-320}',
        '{"id": 12345678901234567890}',
        '{"n": 1.00000000000000000001}',
        '{"n": 1e400}',
        '{"n": 1.50}',
      ),
      weight: 1,
    },
  ),
  task: fc.oneof(
    { arbitrary: fc.constant('fuzz.known'), weight: 3 },
    { arbitrary: fc.constantFrom('fuzz.unknown', 'fuzz.KNOWN', ' fuzz.known'), weight: 1 },
    { arbitrary: metaString(4).filter((s) => s.length > 0 && s.length <= 128), weight: 1 },
  ),
  lock: fc.oneof(fc.constant(null), metaString(4)),
});

test('jobs deferred by SQL with odd args, task names and locks: run with their args intact, or fail with the reason logged; none stays doing', async (t) => {
  const { pool } = await procrastinateDb(t);
  const queue = uniqueName('fzq');
  const { logger, entries } = capturingLogger();
  const received = new Map<string, unknown>();
  let ran = 0;
  const backend = new ProcrastinateBackend({
    postgres: pool,
    queues: [queue],
    logger,
    tasks: { 'fuzz.known': (args, job) => void received.set(job.id, args) },
  });
  const scheduler = new Scheduler({ name: uniqueName('fz'), logger, pollTimeout: '3s', reservationTimeout: '10s' });
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('P', backend);
  await scheduler.load([1, 2].map((slotId) => ({ slotId, backends: ['P'] })));

  await fc.assert(
    fc.asyncProperty(fc.array(sqlJob, { minLength: 1, maxLength: 4 }), async (jobs) => {
      const ids: string[] = [];
      const deferred: typeof jobs = [];
      for (const job of jobs) {
        try {
          const { rows } = await pool.query<{ id: string }>(q.deferOne, [queue, job.task, 0, job.lock, null, job.args, null]);
          ids.push(rows[0]!.id);
          deferred.push(job);
        } catch (error) {
          // PostgreSQL itself refuses some (a NUL or a lone surrogate escaped in the JSON): no job, nothing to run.
          if (!/^22/.test(String((error as { code?: unknown }).code))) throw error;
        }
      }
      await waitFor(
        async () => {
          const { rows } = await pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM procrastinate_jobs WHERE id = ANY($1) AND status IN ('todo', 'doing')`,
            [ids],
          );
          return rows[0]!.n === 0;
        },
        `jobs ${ids.join(', ')} to finish`,
        10_000,
      );
      for (const [i, job] of deferred.entries()) {
        const id = ids[i]!;
        const { rows } = await pool.query<{ status: string; args: unknown }>('SELECT status, args FROM procrastinate_jobs WHERE id = $1', [
          id,
        ]);
        const { status, args: storedArgs } = rows[0]!;
        // An integer that JSON.parse would change must fail the job, not reach the handler changed.
        const runnable = job.task === 'fuzz.known' && isObject(storedArgs) && !(await changesInJavaScript(pool, id));
        if (runnable) {
          ran++;
          if (status !== 'succeeded') throw new Error(`job ${id} ended ${status}`);
          // As Python's json reads the row: numbers with a fraction or exponent are doubles there too.
          // Compared as JSON text: deep args (3000 levels) would overflow a structural comparison.
          if (JSON.stringify(received.get(id)) !== JSON.stringify(storedArgs))
            throw new Error(`the handler got ${preview(received.get(id))}, the row holds ${preview(storedArgs)}`);
        } else {
          if (status !== 'failed')
            throw new Error(`job ${id} (task ${JSON.stringify(job.task)}, args ${preview(storedArgs)}) ended ${status}, not failed`);
          if (received.has(id)) throw new Error(`the handler ran job ${id}`);
          const reason = entries.find((e) => e.level === 'error' && e.jobId === id);
          if (!reason) throw new Error(`no error logged for job ${id}`);
        }
      }
    }),
    // Past findings: args that are no object ran the handler; a big integer reached it changed.
    fuzzParameters(15, {
      stateful: true,
      examples: [
        [
          ['"a string"', 'null', '[1, 2]', '{"id": 12345678901234567890}', '{"id": 1152921504606846976}', '{"float": 4.5e+116}'].map(
            (args) => ({
              args,
              task: 'fuzz.known',
              lock: null as string | null,
            }),
          ),
        ],
      ],
    }),
  );
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM procrastinate_jobs WHERE status = 'doing'`);
  t.is(rows[0]!.n, 0, 'no job stays doing');
  // Not vacuous: runs draw 16-22 runnable jobs, rarely under 10 (one CI run drew 9).
  t.true(ran >= 5, `${ran} jobs ran their handler`);
});

/**
 * True when the row's JSON holds an integer whose digits JavaScript would change: the handler
 * would see, and write back, another number than the one Python reads.
 */
async function changesInJavaScript(pool: pg.Pool, id: string): Promise<boolean> {
  const { rows } = await pool.query<{ text: string }>('SELECT args::text AS text FROM procrastinate_jobs WHERE id = $1', [id]);
  const numbers = rows[0]!.text.replace(/"(?:[^"\\]|\\.)*"/g, '""').match(/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g) ?? [];
  // What a handler would write back, against what the row says: the same digits, or another number.
  const digitsOf = (written: string) =>
    written
      .split(/[eE]/)[0]!
      .replace(/[-.]/g, '')
      .replace(/^0+|0+$/g, '');
  return numbers.some((n) => !/[.eE]/.test(n) && (!Number.isFinite(Number(n)) || digitsOf(n) !== digitsOf(String(Number(n)))));
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
