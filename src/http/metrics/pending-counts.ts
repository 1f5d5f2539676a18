/**
 * Counts kept as plain numbers where they happen, once per task, and added to their prom-client
 * counters when a scrape reads them: a prom-client `inc` checks and hashes its labels on every
 * call, which showed in the CPU time of a busy scheduler's tasks.
 */
import type { Counter, LabelValues } from 'prom-client';

/** One counter's series, counting here until the next flush. */
export interface PendingCount {
  /** Add to it: `count.n++`. */
  n: number;
}

interface Entry<L extends string> extends PendingCount {
  counter: Counter<L>;
  labels: LabelValues<L>;
}

export class PendingCounts {
  private readonly entries: Array<Entry<string>> = [];

  /** A count of `counter` under `labels`: make it once per series, then add to it. */
  of<L extends string>(counter: Counter<L>, labels: LabelValues<L>): PendingCount {
    const entry: Entry<L> = { counter, labels, n: 0 };
    this.entries.push(entry as unknown as Entry<string>);
    return entry;
  }

  /** Adds what was counted since the last flush to the counters. */
  readonly flush = (): void => {
    for (const entry of this.entries) {
      if (entry.n === 0) continue;
      entry.counter.inc(entry.labels, entry.n);
      entry.n = 0;
    }
  };
}
