/** A logger of the library's Logger shape that keeps every line, with its child fields, for tests to read. */
import type { Logger } from '../../src/core/logger.js';

export type LogEntry = { level: string; message: string } & Record<string, unknown>;

export function capturingLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const make = (base: Record<string, unknown>): Logger => {
    const at = (level: string) => (message: string, fields?: Record<string, unknown>) =>
      entries.push({ ...base, ...fields, level, message });
    return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: (fields) => make({ ...base, ...fields }) };
  };
  return { logger: make({}), entries };
}
