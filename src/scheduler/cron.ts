import cron from 'node-cron';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/** A running cron tick. */
export interface CronHandle {
  stop(): void;
  /** The time between its next two ticks, ms: how often passes run. */
  periodMs(): number;
}

/** The tick of `start()` when it is given no cron: every minute, as the Python original's loop. */
export const defaultCron = '* * * * *';

const cronAllowed = "allowed: a node-cron expression such as '*/10 * * * * *' (6 fields, with seconds) or '* * * * *'";

/** What is wrong with a cron expression, or nothing. */
export function cronProblem(expression: unknown): string | undefined {
  return typeof expression === 'string' && cron.validate(expression) ? undefined : cronAllowed;
}

/**
 * Calls `tick` on every match of a node-cron expression (5 fields, or 6 with seconds). The tick
 * never overlaps itself, and node-cron's own messages go to our logger, not the console.
 * @throws ConfigError for an invalid expression
 */
export function startCron(expression: string, tick: () => void, logger: Logger): CronHandle {
  const problem = cronProblem(expression);
  if (problem !== undefined) throw new ConfigError('start(options.cron)', expression, problem);
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
  return {
    stop: () => void task.destroy(),
    periodMs: () => {
      const [next, after] = task.getNextRuns(2);
      return next && after ? after.getTime() - next.getTime() : 60_000;
    },
  };
}
