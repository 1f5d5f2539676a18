/**
 * A Scheduler made from a service config: its options, logger, slot classes and backends. It is
 * neither loaded nor started: the caller (the CLI) does both, with `config.slots` and `config.cron`.
 */
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { fieldName } from '../core/option-schema.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { ConfigFileError, issue, type ConfigIssue } from './errors.js';
import type { ServiceConfig } from './service-config.js';

/** What the config file does not say. */
export interface CreateSchedulerOptions {
  /** The scheduler's logger; `false` logs nothing. @defaultValue the scheduler's default (warnings and errors on stderr) */
  logger?: Logger | false;
}

/**
 * Builds the Scheduler of a config and registers its slot classes and backends; each backend
 * class is built now, by this scheduler. Call `load(config.slots)`, then `start({ cron: config.cron })`.
 * @throws ConfigFileError naming each backend whose construction failed
 */
export function createScheduler(config: ServiceConfig, options: CreateSchedulerOptions = {}): Scheduler {
  const scheduler = new Scheduler({
    ...config.scheduler,
    shutdownGraceful: config.shutdown.gracefulMs,
    shutdownFinal: config.shutdown.finalMs,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  for (const [name, slotClass] of config.slotClasses) scheduler.registerSlotClass(name, slotClass);
  const issues: ConfigIssue[] = [];
  for (const [name, backend] of config.backends) {
    try {
      scheduler.registerBackend(name, backend);
    } catch (error) {
      // A backend class of your own checks its options when built, which is now.
      const path = fieldName('backends', [name]);
      const reason =
        error instanceof ConfigError ? error.message : error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      issues.push(issue({ path, value: name, allowed: `building the backend failed: ${reason}`, cause: error }));
    }
  }
  if (issues.length > 0) throw new ConfigFileError(config.source, issues);
  return scheduler;
}
