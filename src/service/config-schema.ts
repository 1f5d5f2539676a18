/**
 * The schemas of a config file, made of the API's own: the `scheduler` section is the shape of
 * `new Scheduler()`'s options, a slot entry the shape of a slot config, the `procrastinate`
 * backend the shape of `new ProcrastinateBackend()`'s options. An option added to one of those is
 * an option of the file too, checked the same way, and in the published JSON Schema.
 *
 * Each schema comes in two kinds: `json`, for a JSON file, whose stores are URLs; `module`, for
 * the default export of a JS or TS config, which may also hold clients, handlers and backends.
 */
import { httpSection } from '../http/http-options.js';
import * as z from 'zod/mini';
import { backendOptionShape } from '../../backends/procrastinate/backend-options.js';
import { postgresProblem, redisProblem } from '../core/connection-options.js';
import { checked, checkedLater, duration, oneOf, strictObject, withJson, jsonShapes, type JsonShape } from '../core/option-schema.js';
import { slotConfigShape } from '../scheduler/config.js';
import { cronProblem } from '../scheduler/cron.js';
import { defaults, schedulerOptionShape, schedulerOptionsAllowed } from '../scheduler/options.js';
import { slotIdsJson } from './slot-ids.js';

/** Where a config comes from: a JSON file, or a JS or TS module's default export. */
export type ConfigKind = 'json' | 'module';

/** The levels of `log.level`: winston's (npm) levels, most severe first. */
export const logLevels = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const;
export type LogLevel = (typeof logLevels)[number];

/** Defaults of the sections of the file that are not options of the API. */
export const fileDefaults = Object.freeze({
  logLevel: 'info',
  // The library's own: the file's `shutdown` section sets the scheduler's shutdownGraceful and shutdownFinal.
  shutdownGraceful: defaults.shutdownGraceful,
  shutdownFinal: defaults.shutdownFinal,
} as const);

/** A store URL and nothing else: a client cannot be written in JSON. */
function urlOnly(problemOf: (value: unknown) => string | undefined, schemes: readonly string[], example: string) {
  const allowed = `allowed: a ${schemes.map((s) => `${s}://`).join(' or ')} URL such as ${example} (a client object only in a JS or TS config)`;
  return checked<string>((value) => (typeof value === 'string' && problemOf(value) === undefined ? undefined : allowed), {
    type: 'string',
    pattern: `^(${schemes.join('|')})://`,
    description: allowed,
  });
}

const redisUrl = () => urlOnly(redisProblem, ['redis', 'rediss'], 'redis://localhost:6379/0');
const postgresUrl = () => urlOnly(postgresProblem, ['postgres', 'postgresql'], 'postgres://user@localhost:5432/app');

/**
 * The `scheduler` section: every option of `new Scheduler()` but `logger` (the CLI sets it from
 * `log`) and the shutdown times (the file's `shutdown` section sets them); in a JSON file, `redis`
 * and `postgres` are URLs only. New options of the scheduler come in here by themselves.
 */
export function schedulerSection(kind: ConfigKind) {
  const { logger: _logger, shutdownGraceful: _graceful, shutdownFinal: _final, ...shape } = schedulerOptionShape;
  if (kind === 'module') return strictObject(shape, schedulerOptionsAllowed);
  return strictObject(
    {
      ...shape,
      redis: z.optional(redisUrl()),
      postgres: z.optional(postgresUrl()),
    },
    schedulerOptionsAllowed,
  );
}

const entryAllowed = 'allowed: an object with slotId (or slotIds, for a range) and backends';

/** One slot, as `scheduler.load()` takes it (both spellings). */
export const slotEntry = strictObject(slotConfigShape, entryAllowed, 'field');

/** A range of slots: `slotIds` and the other fields of a slot, shared by each. */
export const slotRangeEntry = (() => {
  const { slotId: _slotId, slot_id: _snake, ...rest } = slotConfigShape;
  return strictObject({ slotIds: checkedLater(slotIdsJson), ...rest }, entryAllowed, 'field');
})();

/** A module path, resolved from the config file's folder (or a package name). */
const modulePath = (example: string, what: string) =>
  withJson(z.string(`allowed: a path such as "${example}", relative to the config file, or a package name`).check(z.minLength(1)), {
    description: `${what}: a path relative to the config file (.js, .mjs, .cjs; .ts, .mts with tsx installed), or a package name`,
  });

/** `queues` must be a non-empty array; each name is checked after (validateQueueName), so that each bad one is named. */
const queuesGiven = (json: JsonShape | undefined) =>
  checked<unknown>((value) => (Array.isArray(value) && value.length > 0 ? undefined : 'allowed: a non-empty array of queue names'), json);

/**
 * The built-in Procrastinate backend's entry: `{ type: "procrastinate", options }`, whose options
 * are every option of `new ProcrastinateBackend()` but `logger`, with `handlers` (a module whose
 * exports are the handlers by task name) for `tasks`; in a JSON file, `postgres` is a URL only.
 */
export function procrastinateEntry(kind: ConfigKind) {
  const { logger: _logger, tasks: _tasks, ...shape } = backendOptionShape;
  const handlers =
    kind === 'json'
      ? modulePath('./handlers.js', 'the module whose exports are the handlers by task name')
      : checked<string | Record<string, unknown>>((value) =>
          (typeof value === 'string' && value.length > 0) || (typeof value === 'object' && value !== null && !Array.isArray(value))
            ? undefined
            : 'allowed: a module path such as "./handlers.js", or an object of handlers by task name',
        );
  const options = strictObject(
    {
      ...shape,
      ...(kind === 'json' ? { postgres: postgresUrl() } : {}),
      queues: queuesGiven(jsonShapes.get(shape.queues)),
      handlers,
    },
    'allowed: an object with postgres, queues and handlers',
  );
  return strictObject(
    {
      type: withJson(z.literal('procrastinate', 'allowed: "procrastinate"'), { description: 'the built-in Procrastinate backend' }),
      options,
    },
    'allowed: { "type": "procrastinate", "options": { postgres, queues, handlers, … } }',
    'field',
  );
}

/** A backend of your own: a class (built with `options`), a factory (called with them) or an instance, exported by a module. */
export const moduleEntry = strictObject(
  {
    module: modulePath('./my-backend.js', 'the module exporting the backend'),
    export: z.optional(
      withJson(z.string('allowed: the name of an export of the module').check(z.minLength(1)), {
        description: 'the export holding the Backend class, factory or instance; the default export when absent',
      }),
    ),
    options: checkedLater({ description: "given to the class's constructor or to the factory" }),
  },
  'allowed: { "module": "./my-backend.js", "export"?: "MyBackend", "options"?: … }',
  'field',
);

/** `cron`: the tick of `scheduler.start()`. */
export const cronSection = z.optional(
  checked<string>(cronProblem, {
    type: 'string',
    pattern: '^\\s*\\S+(\\s+\\S+){4,5}\\s*$',
    description: "a node-cron expression: 5 fields, or 6 with seconds first ('*/10 * * * * *'); every minute when absent",
  }),
);

/** `log`: what the CLI's logger writes. */
export const logSection = z.optional(
  strictObject(
    {
      level: z._default(oneOf(logLevels), fileDefaults.logLevel),
      format: z.optional(oneOf(['json', 'text'] as const)),
    },
    'allowed: an object with level and format',
    'field',
  ),
);

/** `shutdown`: how long the CLI waits for running tasks on SIGTERM, then for their ends to be written. */
export const shutdownSection = z.optional(
  strictObject(
    {
      graceful: duration(fileDefaults.shutdownGraceful, { min: 0 }),
      final: duration(fileDefaults.shutdownFinal, { min: 0 }),
    },
    'allowed: an object with graceful and final',
    'field',
  ),
);

/** The top level's keys, each checked by its section. */
export function topLevelKeys(kind: ConfigKind) {
  return strictObject(
    {
      $schema: z.optional(z.string('allowed: the URL or path of the JSON Schema, for editors')),
      scheduler: checkedLater(),
      slots: checkedLater(),
      backends: checkedLater(),
      cron: checkedLater(),
      log: checkedLater(),
      shutdown: checkedLater(),
      http: checkedLater(),
      ...(kind === 'module' ? { slotClasses: checkedLater() } : {}),
    },
    'allowed: an object with scheduler, slots and backends',
    'field',
  );
}

/** A whole JSON config file, as one schema: what the JSON Schema is made of. */
export function jsonFileSchema() {
  return strictObject(
    {
      $schema: z.optional(withJson(z.string(), { description: 'the URL or path of this JSON Schema, for editors' })),
      scheduler: schedulerSection('json'),
      slots: withJson(z.array(z.union([slotEntry, slotRangeEntry])).check(z.minLength(1)), {
        description: 'the slots: each entry one slot, or a range of them (slotIds)',
      }),
      backends: withJson(z.record(z.string().check(z.minLength(1)), z.union([procrastinateEntry('json'), moduleEntry])), {
        description: 'the backends by the name slots list them under',
      }),
      cron: cronSection,
      log: logSection,
      shutdown: shutdownSection,
      http: httpSection,
    },
    'allowed: an object with scheduler, slots and backends',
  );
}

/**
 * The JSON Schema of a config file, for editors to complete and check it. Each string may also
 * hold `${NAME}` placeholders, which the schema cannot judge: a string with `${` passes wherever
 * a pattern or a list of values is asked for.
 */
export function configJsonSchema(): JsonShape {
  const generated = z.toJSONSchema(jsonFileSchema(), { target: 'draft-07', io: 'input', metadata: jsonShapes }) as JsonShape;
  const { $schema: _draft, ...rest } = allowPlaceholders(generated);
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'task-semaphore config file',
    description: 'The config of `task-semaphore run --config FILE`: the scheduler, its slots and backends, cron, logging and shutdown.',
    ...rest,
  };
}

/** A string holding a placeholder, which only the loader can judge. */
const placeholderPattern = '\\$\\{';

/**
 * Lets a `${NAME}` string through wherever the schema asks for a pattern or one of a list of
 * strings, and drops defaults JSON cannot hold (`Infinity`, written as null).
 */
function allowPlaceholders(node: JsonShape): JsonShape {
  const out: JsonShape = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'default' && value === null) continue;
    out[key] = Array.isArray(value)
      ? value.map((item: unknown) => (isNode(item) ? allowPlaceholders(item) : item))
      : isNode(value) && key !== 'enum' && key !== 'const'
        ? key === 'properties' || key === 'definitions' || key === 'patternProperties'
          ? Object.fromEntries(Object.entries(value).map(([name, child]) => [name, allowPlaceholders(child as JsonShape)]))
          : allowPlaceholders(value)
        : value;
  }
  if (typeof out.pattern === 'string') out.pattern = `${out.pattern}|${placeholderPattern}`;
  if (Array.isArray(out.enum) && out.enum.every((item) => typeof item === 'string')) {
    const { enum: values, type: _type, ...rest } = out;
    return {
      ...rest,
      anyOf: [
        { type: 'string', enum: values },
        { type: 'string', pattern: placeholderPattern },
      ],
    };
  }
  return out;
}

function isNode(value: unknown): value is JsonShape {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
