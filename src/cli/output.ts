import { ConfigError, isTaskSemaphoreError } from '../core/errors.js';
import { exitCodes, type ExitCode } from './exit-codes.js';

/** Where a command writes: its answer on `out`, diagnostics on `err`; JSON when asked. */
export interface Output {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** Writes one value as a line of JSON (for `--json`). */
export function writeJson(output: Output, value: unknown): void {
  output.out.write(`${JSON.stringify(value)}\n`);
}

/**
 * Reports an error thrown by a command: the package's own errors are already explained (bad
 * input exits 2, the rest 1); anything else is shown with what the command was doing.
 */
export function reportError(output: Output, error: unknown, doing: string): ExitCode {
  if (isTaskSemaphoreError(error)) {
    output.err.write(`${error.message}\n`);
    return error instanceof ConfigError ? exitCodes.usage : exitCodes.failed;
  }
  output.err.write(`${doing} failed: ${(error as Error)?.message ?? String(error)}\n`);
  return exitCodes.failed;
}

/** A span of milliseconds as people read it: `950ms`, `42s`, `4m05s`, `2h03m`, `-12s` when past. */
export function formatSpan(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(Math.round(ms));
  if (abs < 1000) return `${sign}${abs}ms`;
  const s = Math.floor(abs / 1000);
  if (s < 60) return `${sign}${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${sign}${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${sign}${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** A store-clock time as an ISO string, or `-`. */
export function formatTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : new Date(ms).toISOString();
}

/** Lays rows out in columns under a header, two spaces apart. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
