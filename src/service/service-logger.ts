/**
 * The logger of `task-semaphore run`: winston, one line per event with its structured fields, as
 * JSON (for log shippers) or as readable text (for a terminal), at a level that a reload may change.
 */
import winston from 'winston';
import type { Logger } from '../core/logger.js';
import type { LogLevel } from './config-schema.js';

export type LogFormat = 'json' | 'text';

export interface ServiceLogger {
  logger: Logger;
  /** Changes the level of this logger and of every child it gave, at once (a reload). */
  setLevel(level: LogLevel): void;
}

/** `2026-12-05T21:03:04.567Z info  task started slotId=1 taskId=report-7` */
const text = winston.format.printf((info) => {
  const { level, message, timestamp, ...fields } = info;
  const rest = Object.entries(fields)
    .map(([key, value]) => ` ${key}=${typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)}`)
    .join('');
  return `${String(timestamp)} ${level.padEnd(5)} ${String(message)}${rest}`;
});

export function createServiceLogger(options: { level: LogLevel; format: LogFormat; stream?: NodeJS.WritableStream }): ServiceLogger {
  const root = winston.createLogger({
    level: options.level,
    format: winston.format.combine(winston.format.timestamp(), options.format === 'json' ? winston.format.json() : text),
    transports: [new winston.transports.Stream({ stream: options.stream ?? process.stdout })],
  });
  const wrap = (logger: winston.Logger): Logger => {
    // Checked per call, not once, so that a reload's new level reaches the children too.
    const at = (level: 'error' | 'warn' | 'info' | 'debug') => (message: string, fields?: Record<string, unknown>) => {
      if (root.isLevelEnabled(level)) logger.log(level, message, fields ?? {});
    };
    return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: (fields) => wrap(logger.child(fields)) };
  };
  return {
    logger: wrap(root),
    setLevel(level) {
      root.level = level;
    },
  };
}
