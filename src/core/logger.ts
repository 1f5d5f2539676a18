import { inspect } from 'node:util';
import winston from 'winston';
import * as z from 'zod/mini';
import { shaped } from './option-schema.js';

/**
 * The logger task-semaphore writes to: a winston logger, or anything with the same shape. Each
 * call gets a message and structured fields (`slotId`, `taskId`, `backend`, `token`, `reason`,
 * `error` with its stack). Children carry fields of their component.
 */
export interface Logger {
  error(message: string, fields?: Record<string, unknown>): unknown;
  warn(message: string, fields?: Record<string, unknown>): unknown;
  info(message: string, fields?: Record<string, unknown>): unknown;
  debug(message: string, fields?: Record<string, unknown>): unknown;
  child(fields: Record<string, unknown>): Logger;
}

const methods = ['error', 'warn', 'info', 'debug', 'child'] as const;

/** The `logger` option's schema: a logger by shape, or `false`; absent means the default. */
export const loggerOption = () =>
  z.optional(
    shaped<Logger | false>(
      (value) =>
        value === false ||
        (typeof value === 'object' && value !== null && methods.every((m) => typeof (value as Logger)[m] === 'function')),
      'allowed: a winston logger or an object with error, warn, info, debug and child; or false to log nothing',
    ),
  );

/** The logger an option stands for: the one given, none for `false`, else the default. */
export function resolveLogger(option: Logger | false | undefined): Logger {
  if (option === false) return silentLogger();
  return option ?? defaultLogger();
}

/** A logger that drops everything: what `logger: false` gives. */
export function silentLogger(): Logger {
  return silent;
}

const ignore = () => undefined;
const silent: Logger = { error: ignore, warn: ignore, info: ignore, debug: ignore, child: () => silent };

let shared: Logger | undefined;

/**
 * The default logger: warnings and errors on stderr, one line each (time, level, message, then
 * the fields as JSON), so that a failed poll or job write is heard without any setup. Created
 * once, on first use. Its `info` and `debug` do nothing at all: a winston call below the level
 * still runs winston's stream machinery, which the busiest paths (a line per task) must not pay.
 */
export function defaultLogger(): Logger {
  shared ??= leveled(
    winston.createLogger({
      level: 'warn',
      format: winston.format.combine(winston.format.timestamp(), winston.format.printf(line)),
      // Every level to stderr: stdout belongs to the application.
      transports: [new winston.transports.Console({ stderrLevels: Object.keys(winston.config.npm.levels) })],
    }),
  );
  return shared;
}

/** Wraps a winston logger so that calls below its level are no-ops, decided once. */
function leveled(logger: winston.Logger): Logger {
  const at = (level: 'error' | 'warn' | 'info' | 'debug') =>
    logger.isLevelEnabled(level) ? (message: string, fields?: Record<string, unknown>) => logger.log(level, message, fields ?? {}) : ignore;
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: (fields) => leveled(logger.child(fields)) };
}

/** `2026-01-02T03:04:05.678Z warn task-semaphore: poll failed {"slotId":"1",…}` */
function line(info: winston.Logform.TransformableInfo): string {
  const { level, message, timestamp, ...fields } = info;
  const rest = Object.keys(fields).length > 0 ? ` ${json(fields)}` : '';
  return `${String(timestamp)} ${level} task-semaphore: ${String(message)}${rest}`;
}

/** JSON on one line; what JSON cannot hold (a cycle, a bigint) falls back to inspect. */
function json(fields: Record<string, unknown>): string {
  try {
    return JSON.stringify(fields, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  } catch {
    return inspect(fields, { breakLength: Infinity, depth: 4 });
  }
}

/** Fields describing an error for a log line: its message and stack, and its cause's. */
export function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { error: String(error) };
  const fields: Record<string, unknown> = { error: error.message, stack: error.stack };
  if (error.cause !== undefined) fields.cause = error.cause instanceof Error ? error.cause.stack : String(error.cause);
  return fields;
}
