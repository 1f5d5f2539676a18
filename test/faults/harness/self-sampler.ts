/**
 * A soak worker's look at itself, written to its journal every few seconds: the heap after a forced
 * full GC (so that garbage not yet collected does not pass for growth), the process's memory, its
 * open handles by kind, and how many errors its scheduler reported so far. The soak's judge
 * (soak/judge.ts) reads these lines to tell a leak from noise.
 */
import type { Scheduler } from '../../../src/scheduler/scheduler.js';
import type { WorkerEvent } from './events.js';
import type { JournalWriter } from './journal.js';

/** The error counters a sample carries: running totals since the process started. */
export interface ErrorCounts {
  pass: number;
  poll: number;
  callback: number;
}

/**
 * Starts sampling every `everyMs`; returns a function that stops it. Needs `--expose-gc`: without
 * it, the heap figure would measure the collector's timing rather than what is retained.
 * @throws Error when the process was started without --expose-gc
 */
export function startSelfSampler(journal: JournalWriter<WorkerEvent>, scheduler: Scheduler, everyMs: number): () => void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') throw new Error('the soak sampler needs node --expose-gc (Fleet option nodeArgs)');
  const errors: ErrorCounts = { pass: 0, poll: 0, callback: 0 };
  let tasks = 0;
  let stopped = 0;
  scheduler.on('pass:error', () => errors.pass++);
  scheduler.on('poll:error', () => errors.poll++);
  scheduler.on('callback:error', () => errors.callback++);
  scheduler.on('task:start', () => tasks++);
  scheduler.on('task:stop', () => stopped++);
  const sample = () => {
    gc();
    const memory = process.memoryUsage();
    const handles: Record<string, number> = {};
    for (const kind of process.getActiveResourcesInfo()) handles[kind] = (handles[kind] ?? 0) + 1;
    journal.write({
      ev: 'sample',
      heapUsed: memory.heapUsed,
      rss: memory.rss,
      external: memory.external,
      arrayBuffers: memory.arrayBuffers,
      handles,
      errors: { ...errors },
      tasksStarted: tasks,
      running: tasks - stopped,
    });
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return () => clearInterval(timer);
}
