/** The drain's result table: one row per store, from its measured runs. */
import { fmt, type Row } from '../harness/format.js';
import type { StoreKind } from '../harness/services.js';
import { summarize } from '../harness/stats.js';

/** One measured drain. */
export interface DrainRun {
  store: StoreKind;
  tasksPerSec: number;
  requestsPerTask: number;
  passes: number;
}

/**
 * The row of one store: each run's rate, their median and spread, requests per task (`-` when
 * the store sends none). No target: a rate is judged only against peers measured in the same
 * run (`compare`).
 */
export function drainRow(store: StoreKind, sizes: { tasks: number; slots: number }, runs: readonly DrainRun[], counted: boolean): Row {
  const rate = summarize(runs.map((r) => r.tasksPerSec));
  return {
    store,
    slots: sizes.slots,
    tasks: fmt(sizes.tasks, 0),
    runs: runs.map((r) => fmt(r.tasksPerSec, 0)).join(', '),
    'tasks/s median': fmt(rate.median, 0),
    'spread (max−min)/median': `${fmt(((rate.max - rate.min) / rate.median) * 100, 1)}%`,
    'requests/task': counted ? fmt(summarize(runs.map((r) => r.requestsPerTask)).median, 2) : '-',
    'passes + refill rounds/run': fmt(summarize(runs.map((r) => r.passes)).median, 0),
  };
}
