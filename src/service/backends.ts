/**
 * The `backends` section: each entry made into what `scheduler.registerBackend` takes. The
 * built-in Procrastinate backend is built from its options, with handlers from a module; a
 * backend of your own comes from a module as a class, a factory or an instance.
 */
import { ProcrastinateBackend } from '../../backends/procrastinate/backend.js';
import {
  tasksProblems,
  type JobHandler,
  type ProcrastinateBackendOptions,
  type TaskDefinition,
} from '../../backends/procrastinate/backend-options.js';
import { validateQueueName } from '../../backends/procrastinate/queues.js';
import { ConfigError, configErrorsOf, describe } from '../core/errors.js';
import { collectOptions, fieldName } from '../core/option-schema.js';
import { unstorableTextProblem } from '../core/storable-text.js';
import { isBackend, isBackendClass, type BackendInput } from '../scheduler/backend-input.js';
import { moduleEntry, procrastinateEntry, type ConfigKind } from './config-schema.js';
import type { IssueInput } from './errors.js';
import { isPlainObject } from './interpolate.js';
import { importModule, importProblem, type ModuleExports } from './modules.js';

/** What the entries are read with: where modules are, and where each problem goes. */
export interface EntryContext {
  kind: ConfigKind;
  baseDir: string;
  /** Records a problem. */
  report(problem: IssueInput): void;
  /** Records the problems of a ConfigError or a list of them (from a check of the API). */
  reportErrors(errors: readonly ConfigError<string>[]): void;
}

const entryAllowed =
  'allowed: { "type": "procrastinate", "options": {…} } or { "module": "./my-backend.js", "export"?: "MyBackend", "options"?: … }';

/** Every backend of the section, by name; each bad one is reported and left out. */
export async function readBackends(section: unknown, context: EntryContext): Promise<Map<string, BackendInput>> {
  const backends = new Map<string, BackendInput>();
  if (!isPlainObject(section)) {
    context.report({ path: 'backends', value: section, allowed: 'allowed: an object of backends by name, which slots list' });
    return backends;
  }
  for (const [name, entry] of Object.entries(section)) {
    const path = fieldName('backends', [name]);
    const problem = name === '' ? 'is empty' : unstorableTextProblem(name);
    if (problem !== null) {
      // The name is stored with every task of the backend, in Redis keys and PostgreSQL text.
      context.report({ path, value: name, allowed: `the name ${problem}; allowed: a non-empty string` });
      continue;
    }
    const backend = await readBackend(entry, path, context);
    if (backend !== undefined) backends.set(name, backend);
  }
  return backends;
}

async function readBackend(entry: unknown, path: string, context: EntryContext): Promise<BackendInput | undefined> {
  if (context.kind === 'module' && (isBackend(entry) || isBackendClass(entry))) return entry as BackendInput;
  if (isPlainObject(entry) && 'type' in entry) return readProcrastinate(entry, path, context);
  if (isPlainObject(entry) && 'module' in entry) return readModuleBackend(entry, path, context);
  const allowed = context.kind === 'module' ? `${entryAllowed}, or a Backend class or instance` : entryAllowed;
  context.report({ path, value: entry, allowed });
  return undefined;
}

/** `{ type: "procrastinate", options }`: a class that builds the backend with these options, checked now. */
async function readProcrastinate(entry: Record<string, unknown>, path: string, context: EntryContext): Promise<BackendInput | undefined> {
  const shape = collectOptions(procrastinateEntry(context.kind), entry, path);
  if (!shape.ok) context.reportErrors(shape.errors);
  if (!isPlainObject(entry.options)) return undefined;
  // Past a bad shape, the queues and the handlers are still checked: every problem at once.
  const { handlers, ...options } = entry.options;
  const optionsPath = `${path}.options`;
  const queueErrors = Array.isArray(options.queues)
    ? options.queues.flatMap((queue: unknown, i) => configErrorsOf(() => validateQueueName(queue, `${optionsPath}.queues[${i}]`)))
    : [];
  context.reportErrors(queueErrors);

  const handlersPath = `${optionsPath}.handlers`;
  /** A problem the backend's checks found, named where the file has it: `tasks` are the handlers' exports. */
  const reportChecked = (error: ConfigError<string>) => {
    const field = error.field.startsWith('tasks') ? `${handlersPath}${error.field.slice('tasks'.length)}` : `${optionsPath}.${error.field}`;
    const where = typeof handlers === 'string' && field.startsWith(handlersPath) ? ` (the exports of ${handlers})` : '';
    context.report({ path: field, value: error.value, allowed: `${error.allowed}${where}`, code: error.code });
  };
  let tasks: unknown;
  if (typeof handlers === 'string' && handlers !== '') {
    const exports = await importOrReport(handlers, handlersPath, 'the handlers of a Procrastinate backend', context);
    if (exports === undefined) return undefined;
    tasks = handlersOf(exports);
  } else if (context.kind === 'module' && isPlainObject(handlers)) {
    tasks = handlers;
  }
  // Any other `handlers` is a problem the shape named. Each bad handler is named, not only the first.
  const handlerErrors = tasks === undefined ? [] : tasksProblems(tasks);
  handlerErrors.forEach(reportChecked);
  if (!shape.ok || queueErrors.length > 0 || handlerErrors.length > 0) return undefined;

  const resolved = { ...options, tasks } as unknown as ProcrastinateBackendOptions;
  try {
    // Built once now, to check every option and handler; registration builds its own.
    new ProcrastinateBackend(resolved);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    reportChecked(error);
    return undefined;
  }
  // A class, so that each scheduler made from the config gets a backend of its own.
  return class extends ProcrastinateBackend {
    constructor() {
      super(resolved);
    }
  };
}

/**
 * A handlers module's handlers by task name: its default export when that is an object (task names
 * such as `app.tasks.send` are no JS identifiers), else its named exports.
 */
function handlersOf(exports: ModuleExports): Record<string, JobHandler | TaskDefinition> {
  const { default: byDefault, ...named } = exports;
  const handlers = isPlainObject(byDefault) ? byDefault : named;
  return handlers as Record<string, JobHandler | TaskDefinition>;
}

/** `{ module, export?, options? }`: the export, a Backend class, factory or instance. */
async function readModuleBackend(entry: Record<string, unknown>, path: string, context: EntryContext): Promise<BackendInput | undefined> {
  const shape = collectOptions(moduleEntry, entry, path);
  if (!shape.ok) return void context.reportErrors(shape.errors);
  const { module, export: exportName = 'default', options } = shape.data;
  const exports = await importOrReport(module, `${path}.module`, 'a backend module', context);
  if (exports === undefined) return undefined;
  const exportPath = entry.export === undefined ? `${path}.module` : `${path}.export`;
  if (!(exportName in exports)) {
    const names = Object.keys(exports).join(', ') || '(none)';
    context.report({
      path: exportPath,
      value: entry.export ?? module,
      allowed: `${module} has no export "${exportName}"; its exports: ${names}`,
    });
    return undefined;
  }
  const value = exports[exportName];
  const given = `the export "${exportName}" of ${module}`;
  if (isBackendClass(value)) {
    if (options === undefined) return value as BackendInput;
    const BackendClass = value as unknown as new (options: unknown) => object;
    // A class per config entry, built with the entry's options by each scheduler that registers it.
    const bound = class extends BackendClass {
      constructor() {
        super(options);
      }
    };
    Object.defineProperty(bound, 'name', { value: BackendClass.name });
    return bound as unknown as BackendInput;
  }
  if (isBackend(value)) {
    if (options === undefined) return value;
    context.report({ path: `${path}.options`, value: options, allowed: `${given} is a backend instance, which takes no options` });
    return undefined;
  }
  if (typeof value === 'function') {
    // A factory: called once, now, with the options.
    let made: unknown;
    try {
      made = await (value as (options: unknown) => unknown)(options);
    } catch (error) {
      context.report({
        path: exportPath,
        value: module,
        allowed: `${given} threw: ${(error as Error).message ?? String(error)}`,
        cause: error,
      });
      return undefined;
    }
    if (isBackend(made)) return made;
    context.report({ path: exportPath, value: module, allowed: `${given} is a function that returned ${describe(made)}, not a Backend` });
    return undefined;
  }
  context.report({
    path: exportPath,
    value: module,
    allowed: `${given} is ${describe(value)}; allowed: a Backend class, a factory returning a Backend, or a Backend instance`,
  });
  return undefined;
}

/** Imports a module named at `path`, or reports why it cannot and returns nothing. */
export async function importOrReport(
  specifier: string,
  path: string,
  neededBy: string,
  context: Pick<EntryContext, 'baseDir' | 'report'>,
): Promise<ModuleExports | undefined> {
  try {
    return await importModule(specifier, context.baseDir, neededBy);
  } catch (error) {
    context.report({ path, value: specifier, allowed: importProblem(specifier, context.baseDir, error), cause: error });
    return undefined;
  }
}
