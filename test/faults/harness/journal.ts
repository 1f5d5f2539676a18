/**
 * The journal of a fault run: one append-only JSONL file per process in the run's directory,
 * merged by the monotonic time stamped on every line.
 *
 * Each line is one `write(2)` on a file opened with O_APPEND, made before the call returns: once a
 * line is written, a kill -9 of its writer cannot take it back, and no line is ever half written.
 */
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { HarnessEvent, JournalEvent, WorkerEvent } from './events.js';

/** CLOCK_MONOTONIC in nanoseconds, as a number (exact for 104 days of uptime). */
export const monotonicNs = (): number => Number(process.hrtime.bigint());

/** Nanoseconds to milliseconds. */
export const nsToMs = (ns: number): number => ns / 1e6;

/** Appends lines to this process's journal file. */
export class JournalWriter<E extends WorkerEvent | HarnessEvent> {
  private readonly fd: number;

  constructor(
    readonly path: string,
    private readonly pid = process.pid,
  ) {
    this.fd = openSync(path, 'a');
  }

  /** Writes one line, stamped now; returns its stamp. */
  write(event: E): number {
    const t = monotonicNs();
    writeSync(this.fd, JSON.stringify({ t, pid: this.pid, ...event }) + '\n');
    return t;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The journal file of a process. */
export const journalPath = (runDir: string, role: 'worker' | 'harness', pid: number): string => join(runDir, `${role}-${pid}.jsonl`);

/** A run's journal, merged, and how many lines could not be read. */
export interface Journal {
  events: JournalEvent[];
  /** Lines that are not JSON: none should be, since every line is one write. */
  unreadable: number;
}

/** Reads every journal file of `runDir` and merges their lines by time. */
export function readJournal(runDir: string): Journal {
  const events: JournalEvent[] = [];
  let unreadable = 0;
  for (const file of readdirSync(runDir).filter((name) => name.endsWith('.jsonl'))) {
    for (const line of readFileSync(join(runDir, file), 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        events.push(JSON.parse(line) as JournalEvent);
      } catch {
        unreadable++;
      }
    }
  }
  // Stable: lines of one process with the same stamp keep their order.
  events.sort((a, b) => a.t - b.t);
  return { events, unreadable };
}
