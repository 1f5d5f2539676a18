/**
 * A scheduler run from a config file: what `task-semaphore run` drives. It builds the logger and
 * the scheduler from the file, loads and starts it, logs one line per task event, re-reads the
 * file on `reload()`, notices when there is nothing left to do (`untilDrained`), and shuts down.
 * Signals stay with the caller (the CLI), so that the same object runs in tests and programs.
 */
import { errorFields, type Logger } from '../core/logger.js';
import { HttpServer, type HttpOptions } from '../http/index.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { ShutdownReport } from '../scheduler/shutdown-report.js';
import type { LogLevel } from './config-schema.js';
import { createScheduler } from './create-scheduler.js';
import { ConfigFileError } from './errors.js';
import { loadConfigFile } from './load-config.js';
import type { ServiceConfig } from './service-config.js';
import { createServiceLogger, type LogFormat, type ServiceLogger } from './service-logger.js';

export interface ServiceOptions {
  /** The config file. */
  config: string;
  /** Overrides the file's `log.level` (also across reloads). */
  logLevel?: LogLevel;
  /** Overrides the file's `log.format`; without either, text on a terminal and JSON otherwise. */
  logFormat?: LogFormat;
  /** Resolve `drained` once no backend has work and no task of this scheduler runs. */
  untilDrained?: boolean;
  /** Where log lines go. @defaultValue process.stdout */
  logStream?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  /** Overrides of the file's `http` section (the CLI's `--http`), turning it on; `false` keeps the endpoint off. */
  http?: HttpOptions | false;
  /** The bearer token of the control routes, over the file's `http.token`, once the endpoint is on. */
  httpToken?: string;
}

/** What a reload did: applied, or refused with the file's errors (the running config stays). */
export type ReloadResult = { applied: true; changes: string[]; needRestart: string[] } | { applied: false; error: Error };

export class Service {
  /** Resolves when `untilDrained` saw nothing left to do. */
  readonly drained: Promise<void>;
  private resolveDrained!: () => void;
  private shuttingDown: Promise<ShutdownReport> | undefined;
  private reloading: Promise<ReloadResult> | undefined;
  /** The HTTP endpoint, when the file or the options turn it on. */
  http: HttpServer | undefined;

  private constructor(
    readonly scheduler: Scheduler,
    private config: ServiceConfig,
    private readonly log: ServiceLogger,
    private readonly options: ServiceOptions,
  ) {
    this.drained = new Promise((resolve) => (this.resolveDrained = resolve));
  }

  get logger(): Logger {
    return this.log.logger;
  }

  /**
   * Reads the config file, then loads and starts its scheduler.
   * @throws ConfigFileError (every problem of the file), StoreUnavailableError
   */
  static async start(options: ServiceOptions): Promise<Service> {
    const config = await loadConfigFile(options.config, options.env);
    const stream = options.logStream ?? process.stdout;
    const format = options.logFormat ?? config.log.format ?? ((stream as NodeJS.WriteStream).isTTY ? 'text' : 'json');
    const log = createServiceLogger({ level: options.logLevel ?? config.log.level, format, stream });
    const scheduler = createScheduler(config, { logger: log.logger });
    const service = new Service(scheduler, config, log, options);
    service.watchDrain();
    try {
      await scheduler.load(config.slots);
      scheduler.start({ cron: config.cron });
      const on = options.http !== false && (options.http !== undefined || config.http !== null);
      const http = on ? { ...config.http, ...options.http, ...(options.httpToken !== undefined && { token: options.httpToken }) } : null;
      if (http) {
        service.http = await HttpServer.start(scheduler, { ...http, logger: log.logger });
        log.logger.info('HTTP endpoint listening', {
          url: service.http.url,
          controlRoutes: http.token === undefined ? 'off (no token)' : 'on',
        });
      }
    } catch (error) {
      await scheduler.close().catch(() => {});
      throw error;
    }
    log.logger.info('scheduler running', { config: config.source, slots: config.slots.length, cron: config.cron, owner: scheduler.owner });
    return service;
  }

  /**
   * Re-reads the config file and applies what can change while running: the slots (new ones start
   * claiming, removed ones drain), backends added, the cron and the log level. An invalid file
   * changes nothing: its errors are logged, every one. Changes to the scheduler options or to an
   * existing backend's definition need a restart: they are named in the result and the log.
   */
  reload(): Promise<ReloadResult> {
    this.reloading ??= this.applyReload().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  /**
   * Stops claiming, waits for in-process tasks (up to the file's `shutdown.graceful`), aborts the
   * rest, drops those that ignore the abort past `shutdown.final`, and closes. A second call skips
   * what is left of the graceful wait.
   */
  shutdown(): Promise<ShutdownReport> {
    if (this.shuttingDown) {
      this.logger.warn('shutting down now: aborting the tasks still running');
      void this.scheduler.shutdown({ graceful: 0 });
      return this.shuttingDown;
    }
    const { gracefulMs, finalMs } = this.config.shutdown;
    // The endpoint answers through the shutdown (readyz says 503, tasks may still stop over it), then closes.
    this.shuttingDown = this.scheduler.shutdown({ graceful: gracefulMs, final: finalMs }).finally(() => this.http?.close());
    return this.shuttingDown;
  }

  private async applyReload(): Promise<ReloadResult> {
    let next: ServiceConfig;
    try {
      next = await loadConfigFile(this.options.config, this.options.env, { fresh: true });
    } catch (error) {
      // A bad file is the operator's input, not a fault: its problems, one each, without a stack.
      const fields =
        error instanceof ConfigFileError ? { error: error.message, issues: error.issues.map((i) => i.message) } : errorFields(error);
      this.logger.error('reload refused: the config file is invalid; the running config stays', fields);
      return { applied: false, error: error as Error };
    }
    const previous = this.config;
    const changes: string[] = [];
    const needRestart = restartNeeded(previous, next);
    try {
      for (const [name, backend] of next.backends) {
        if (!previous.backends.has(name)) {
          this.scheduler.registerBackend(name, backend);
          changes.push(`backend ${name} added`);
        }
      }
      if (JSON.stringify(next.slots) !== JSON.stringify(previous.slots)) {
        await this.scheduler.load(next.slots);
        changes.push(`slots: ${previous.slots.length} → ${next.slots.length}`);
      }
      if (next.cron !== previous.cron) {
        this.scheduler.start({ cron: next.cron });
        changes.push(`cron: ${next.cron}`);
      }
      if (JSON.stringify(next.shutdown) !== JSON.stringify(previous.shutdown)) changes.push('shutdown times');
      if (this.options.logLevel === undefined && next.log.level !== previous.log.level) {
        this.log.setLevel(next.log.level);
        changes.push(`log level: ${next.log.level}`);
      }
    } catch (error) {
      this.logger.error('reload failed while applying; the scheduler runs on with what was applied', { changes, ...errorFields(error) });
      return { applied: false, error: error as Error };
    }
    // What needs a restart stays as it runs: the scheduler's options, and the backends kept from the
    // running config (their instances are the ones open), so that the next reload still names them.
    const backends = new Map([...next.backends].map(([name, b]) => [name, previous.backends.get(name) ?? b]));
    const backendEntries = new Map([...next.backendEntries].map(([name, e]) => [name, previous.backendEntries.get(name) ?? e]));
    this.config = { ...next, scheduler: previous.scheduler, http: previous.http, backends, backendEntries };
    if (needRestart.length > 0) this.logger.warn('reload: these changes need a restart to apply', { needRestart });
    this.logger.info('config reloaded', { changes });
    return { applied: true, changes, needRestart };
  }

  /** Watches passes for `untilDrained`. The scheduler logs task starts and ends itself. */
  private watchDrain(): void {
    if (!this.options.untilDrained) return;
    this.scheduler.on('pass:end', (report) => void this.checkDrained(report.polls, report.started));
    this.scheduler.on('refill:end', (report) => void this.checkDrained(report.polls, report.started));
  }

  /** Drained: a pass polled and found nothing, and no slot holds a task this scheduler started. */
  private async checkDrained(polls: number, started: number): Promise<void> {
    if (polls === 0 || started > 0 || this.shuttingDown) return;
    try {
      const ours = (await this.scheduler.inspect()).filter((slot) => slot.owner === this.scheduler.owner && slot.status !== 'idle');
      if (ours.length === 0) {
        this.logger.info('drained: no backend has work and no task of ours runs');
        this.resolveDrained();
      }
    } catch (error) {
      this.logger.warn('cannot tell whether drained; asking again after the next pass', errorFields(error));
    }
  }
}

/** What changed between two configs that a running scheduler cannot take: its options, the http section, a running backend's definition. */
function restartNeeded(previous: ServiceConfig, next: ServiceConfig): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(previous.scheduler), ...Object.keys(next.scheduler)]);
  for (const key of keys) {
    const a = (previous.scheduler as Record<string, unknown>)[key];
    const b = (next.scheduler as Record<string, unknown>)[key];
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`scheduler.${key}`);
  }
  if (JSON.stringify(previous.http) !== JSON.stringify(next.http)) out.push('http');
  for (const [name, entry] of next.backendEntries) {
    const running = previous.backendEntries.get(name);
    if (running !== undefined && running !== entry) out.push(`backends.${name}`);
  }
  return out;
}
