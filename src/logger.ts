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

/**
 * The default logger: it drops everything. Library code never writes to the console; pass your
 * own winston logger (`winston.createLogger({ transports: [new winston.transports.Console()] })`)
 * to see logs. Not a silent winston logger: its stream machinery still runs for every line and
 * cost a tenth of the Redis drain throughput (bench/RESULTS.md).
 */
export function silentLogger(): Logger {
  return silent;
}

const ignore = () => undefined;
const silent: Logger = { error: ignore, warn: ignore, info: ignore, debug: ignore, child: () => silent };

/** Fields describing an error for a log line: its message and stack, and its cause's. */
export function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { error: String(error) };
  const fields: Record<string, unknown> = { error: error.message, stack: error.stack };
  if (error.cause !== undefined) fields.cause = error.cause instanceof Error ? error.cause.stack : String(error.cause);
  return fields;
}
