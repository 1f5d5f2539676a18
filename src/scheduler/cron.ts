import cron from 'node-cron';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/** A running cron tick. */
export interface CronHandle {
  stop(): void;
}

/**
 * Calls `tick` on every match of a node-cron expression (5 fields, or 6 with seconds). The tick
 * never overlaps itself, and node-cron's own messages go to our logger, not the console.
 * @throws ConfigError for an invalid expression
 */
export function startCron(expression: string, tick: () => void, logger: Logger): CronHandle {
  if (typeof expression !== 'string' || !cron.validate(expression)) {
    throw new ConfigError(
      'start(options.cron)',
      expression,
      "allowed: a node-cron expression such as '*/10 * * * * *' (6 fields, with seconds) or '* * * * *'",
    );
  }
  const log = logger.child({ component: 'cron' });
  const task = cron.schedule(expression, tick, {
    noOverlap: true,
    logger: {
      info: (message) => log.debug(message),
      warn: (message) => log.debug(message),
      error: (message) => log.warn(String(message)),
      debug: (message) => log.debug(String(message)),
    },
  });
  return { stop: () => void task.destroy() };
}
