/**
 * The default logger without its warnings, for the scheduler processes of fleet tests: racing
 * processes warn by the hundred on purpose (a polled id another process runs, a task timed out),
 * and the tests judge them by their own records. Errors still reach stderr.
 */
import { defaultLogger, type Logger } from '../../src/core/logger.js';

const ignore = () => undefined;

export function errorsOnlyLogger(logger: Logger = defaultLogger()): Logger {
  return {
    error: (message, fields) => logger.error(message, fields),
    warn: ignore,
    info: ignore,
    debug: ignore,
    child: (fields) => errorsOnlyLogger(logger.child(fields)),
  };
}
