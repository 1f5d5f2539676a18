/**
 * A service config: what a config file says, checked as a whole. Every problem is collected and
 * thrown at once, as one {@link ConfigFileError}, so that a file with five mistakes takes one
 * round of fixing, not five.
 */
import { httpSection, type HttpOptions } from '../http/http-options.js';
import { ConfigError } from '../core/errors.js';
import { collectOptions } from '../core/option-schema.js';
import type { SlotConfigInput } from '../scheduler/config.js';
import { defaultCron } from '../scheduler/cron.js';
import type { BackendInput } from '../scheduler/backend-input.js';
import { checkOptions, type SchedulerOptions } from '../scheduler/options.js';
import { builtinSlotClasses, type SlotClass } from '../scheduler/slot-classes.js';
import { readBackends } from './backends.js';
import {
  cronSection,
  logSection,
  schedulerSection,
  shutdownSection,
  topLevelKeys,
  type ConfigKind,
  type LogLevel,
} from './config-schema.js';
import { ConfigFileError, inputOf, issue, type ConfigIssue, type IssueInput } from './errors.js';
import { interpolate, isPlainObject } from './interpolate.js';
import { readSlots } from './slots.js';

/** A config, checked, with its modules loaded: what `createScheduler` and the CLI run. */
export interface ServiceConfig {
  /** The config file's absolute path, or null for a config given in code. */
  source: string | null;
  /** The options of `new Scheduler()`, as the file gives them (placeholders replaced), but `logger`. */
  scheduler: Omit<SchedulerOptions, 'logger'>;
  /** The slots, ranges expanded to one slot each, in the order of the file. */
  slots: SlotConfigInput[];
  /** The backends by name, as `registerBackend` takes them (a class is built by each scheduler). */
  backends: Map<string, BackendInput>;
  /**
   * Each backend's entry as the file wrote it (JSON, placeholders replaced), by name, for a reload
   * to tell a changed definition; a Backend class or instance of a module config is not compared.
   */
  backendEntries: Map<string, string>;
  /** Slot classes a JS or TS config adds (`slotClasses`), by name. */
  slotClasses: Map<string, SlotClass>;
  /** The node-cron expression of `scheduler.start()`. @defaultValue `'* * * * *'` */
  cron: string;
  log: {
    /** @defaultValue `'info'` */
    level: LogLevel;
    /** As the file sets it; undefined when it does not (the CLI then picks text on a TTY, JSON otherwise). */
    format: 'json' | 'text' | undefined;
  };
  /** The HTTP endpoint (`http` section): null when the file has none (off). */
  http: HttpOptions | null;
  /** How long shutdown waits: for running tasks (`graceful`, default 30 s), then for their ends (`final`, default 10 s). */
  shutdown: { gracefulMs: number; finalMs: number };
}

/** Where a config comes from, for its module paths and its errors. */
export interface ParseContext {
  /** The folder module paths (handlers, backends) are resolved from: the config file's. */
  baseDir: string;
  /** Where `${NAME}` placeholders are read. @defaultValue `process.env` */
  env?: NodeJS.ProcessEnv;
  /** The file, for ServiceConfig.source and the errors' prefix. @defaultValue null */
  source?: string | null;
  /**
   * `json`: stores are URLs, handlers and backends come from modules. `module`: the config is a JS
   * or TS module's export, which may also hold clients, handler objects, backend classes and
   * instances, and `slotClasses`.
   * @defaultValue `'json'`
   */
  kind?: ConfigKind;
}

/** The order of the sections in a file: issues are listed in it. */
const sectionOrder = ['scheduler', 'slots', 'backends', 'slotClasses', 'cron', 'log', 'shutdown', 'http'];

/**
 * Checks a config (a parsed JSON file, or a JS or TS module's default export): replaces
 * `${NAME}` placeholders from the environment, checks every section with the API's own checks,
 * expands slot ranges, and loads the modules it names.
 * @throws ConfigFileError listing every problem, each with its path, the bad value and what is allowed
 */
export async function parseServiceConfig(raw: unknown, context: ParseContext): Promise<ServiceConfig> {
  const kind = context.kind ?? 'json';
  const source = context.source ?? null;
  const found: IssueInput[] = [];
  const report = (problem: IssueInput) => void found.push(problem);
  const reportErrors = (errors: readonly ConfigError<string>[]) => errors.forEach((error) => report(inputOf(error)));

  const interpolated = interpolate(raw, context.env ?? process.env);
  const config = interpolated.value;
  const top = collectOptions(topLevelKeys(kind), config);
  if (!top.ok) reportErrors(top.errors);
  if (!isPlainObject(config)) throw new ConfigFileError(source, finish(found, interpolated.issues, interpolated.templates));

  // The scheduler's options: by the shape of the file, then by every rule of the API.
  const schedulerShape = collectOptions(schedulerSection(kind), config.scheduler, 'scheduler');
  const resolved = schedulerShape.ok ? checkOptions({ ...(config.scheduler as SchedulerOptions), logger: false }, 'scheduler') : undefined;
  reportErrors(schedulerShape.ok ? resolved!.errors : schedulerShape.errors);

  // In a JSON file, `slotClasses` is an unknown key (reported above): functions need a module.
  const slotClasses = kind === 'module' ? readSlotClasses(config.slotClasses, report) : new Map<string, SlotClass>();
  const backends = await readBackends(config.backends, { kind, baseDir: context.baseDir, report, reportErrors });
  const slots = readSlots(config.slots, {
    defaults: {
      // With the scheduler's options broken, any registered class keeps slots from false alarms.
      slotCls: resolved?.resolved?.defaultSlotClass ?? 'MemorySlot',
      timeoutMs: resolved?.resolved?.timeoutMs ?? 300_000,
      slotClasses: [...Object.keys(builtinSlotClasses), ...slotClasses.keys()],
      // Every name of the section, built or not: a broken backend is reported once, where it is.
      backends: isPlainObject(config.backends) ? Object.keys(config.backends) : [],
    },
    report,
    // A slot without slotCls reports the scheduler's defaultSlotClass by its option name.
    reportErrors: (errors) =>
      reportErrors(
        errors.map((e) =>
          e.field === 'defaultSlotClass' ? new ConfigError<string>('scheduler.defaultSlotClass', e.value, e.allowed, e.code) : e,
        ),
      ),
  });

  const cron = collectOptions(cronSection, config.cron, 'cron');
  // An absent section is an empty one: its defaults apply.
  const log = collectOptions(logSection, config.log ?? {}, 'log');
  const shutdown = collectOptions(shutdownSection, config.shutdown ?? {}, 'shutdown');
  const http = collectOptions(httpSection, config.http, 'http');
  for (const section of [cron, log, shutdown, http]) if (!section.ok) reportErrors(section.errors);

  const issues = finish(found, interpolated.issues, interpolated.templates);
  if (issues.length > 0 || !cron.ok || !log.ok || !shutdown.ok || !http.ok) throw new ConfigFileError(source, issues);
  return {
    source,
    scheduler: config.scheduler as Omit<SchedulerOptions, 'logger'>,
    slots,
    backends,
    backendEntries: new Map(
      [...backends.keys()].flatMap((name) => {
        const entry = (config.backends as Record<string, unknown>)[name];
        return isPlainObject(entry) ? [[name, JSON.stringify(entry)] as const] : [];
      }),
    ),
    slotClasses,
    cron: cron.data ?? defaultCron,
    log: { level: log.data!.level, format: log.data!.format },
    shutdown: { gracefulMs: shutdown.data!.graceful, finalMs: shutdown.data!.final },
    // The section as written: HttpServer.start resolves it (defaults, the port's text).
    http: http.data === undefined ? null : (config.http as HttpOptions),
  };
}

/** `slotClasses` of a JS or TS config: factories of stores by slot class name. */
function readSlotClasses(section: unknown, report: (problem: IssueInput) => void): Map<string, SlotClass> {
  const classes = new Map<string, SlotClass>();
  if (section === undefined) return classes;
  if (!isPlainObject(section)) {
    report({ path: 'slotClasses', value: section, allowed: 'allowed: an object of slot classes by name: { MySlot: (context) => store }' });
    return classes;
  }
  for (const [name, factory] of Object.entries(section)) {
    if (typeof factory === 'function' && name !== '') classes.set(name, factory as SlotClass);
    else report({ path: `slotClasses.${name}`, value: factory, allowed: 'allowed: a function returning a SlotStore' });
  }
  return classes;
}

/**
 * The issues, in the order of the file's sections, each once, with the text a replaced value was
 * read from. A placeholder whose variable is unset is reported as that, not as the bad value it
 * leaves behind.
 */
function finish(found: readonly IssueInput[], placeholders: readonly ConfigIssue[], templates: ReadonlyMap<string, string>): ConfigIssue[] {
  const unset = new Set(placeholders.map((problem) => problem.path));
  const made = found
    .filter((problem) => !unset.has(problem.path))
    .map((problem) => issue({ ...problem, template: templates.get(problem.path) }));
  const rank = (problem: ConfigIssue) => {
    const section = /^[\w$]+/.exec(problem.path)?.[0] ?? '';
    const at = sectionOrder.indexOf(section);
    return at < 0 ? -1 : at;
  };
  const seen = new Set<string>();
  return [...placeholders, ...made]
    .filter((problem) => !seen.has(problem.message) && seen.add(problem.message))
    .map((problem, order) => ({ problem, order }))
    .sort((a, b) => rank(a.problem) - rank(b.problem) || a.order - b.order)
    .map(({ problem }) => problem);
}
