/**
 * Pass cost vs slot count: `schedule()` over N idle slots whose only backend is empty. Every slot
 * is reserved by the pass, offered to the backend (asked once per pass: a poll that found nothing
 * is not repeated), and released. Reports store round trips per pass, counted exactly on the
 * client, and milliseconds per pass, split into time waiting on the store and the rest (the
 * Scheduler's own work in Node).
 */
import { Backend, Scheduler, type SchedulerOptions } from '../../src/index.js';
import { fmt, type Row } from '../harness/format.js';
import { uniqueName, type Services, type StoreKind } from '../harness/services.js';
import type { RoundTrips } from '../harness/round-trips.js';
import { summarize, type Summary } from '../harness/stats.js';
import { countedStore } from '../harness/store.js';

/** Never has a task. */
class Empty extends Backend {
  poll(): null {
    return null;
  }
  startCallback(): void {}
}

export interface PassCostOptions {
  stores: readonly StoreKind[];
  slotCounts: readonly number[];
  passes: number;
  warmup: number;
  /** Stop measuring a slot count after this long, once at least 5 passes are in. */
  budgetMs: number;
}

/** What the passes over one slot count measured, in raw figures. */
export interface PassMeasurement {
  passes: number;
  /** Store round trips of each pass. */
  trips: Summary;
  /** The requests of the last pass, e.g. `begin-pass-9×1 release-2×1`. */
  requests: string;
  polls: number;
  /** ms per pass, and of those ms the time spent waiting on the store. */
  ms: Summary;
  storeMs: Summary;
}

/**
 * Loads `slots` slots on a fresh Scheduler of the store of `storeOptions`, runs `warmup` passes,
 * then up to `passes` measured ones (at least 5 once `budgetMs` has passed). `afterLoad` runs
 * once the slots are loaded, before any pass.
 */
export async function measurePasses(
  storeOptions: Omit<SchedulerOptions, 'name'>,
  counter: RoundTrips,
  slots: number,
  options: Pick<PassCostOptions, 'passes' | 'warmup' | 'budgetMs'>,
  afterLoad?: () => Promise<void>,
): Promise<PassMeasurement> {
  const scheduler = new Scheduler({ name: uniqueName('pass'), ...storeOptions });
  scheduler.registerBackend('Empty', Empty);
  try {
    await scheduler.load(Array.from({ length: slots }, (_, i) => ({ slotId: i + 1, backends: ['Empty'] })));
    await afterLoad?.();
    for (let i = 0; i < options.warmup; i++) await scheduler.schedule();
    const ms: number[] = [];
    const storeMs: number[] = [];
    const trips: number[] = [];
    let requests = '';
    let polls = 0;
    const began = performance.now();
    for (let i = 0; i < options.passes && (i < 5 || performance.now() - began < options.budgetMs); i++) {
      counter.reset();
      const passBegan = performance.now();
      const report = await scheduler.schedule();
      ms.push(performance.now() - passBegan);
      storeMs.push(counter.busyMs);
      trips.push(counter.total);
      requests = counter.describe();
      polls = report.polls;
      if (report.released !== slots) throw new Error(`expected ${slots} released slots, got ${report.released}`);
    }
    return { passes: ms.length, trips: summarize(trips), requests, polls, ms: summarize(ms), storeMs: summarize(storeMs) };
  } finally {
    await scheduler.close();
  }
}

export async function passCost(services: Services, options: PassCostOptions): Promise<Row[]> {
  const rows: Row[] = [];
  for (const store of options.stores) {
    if (store === 'memory') continue; // no round trips to count
    const { options: storeOptions, counter } = await countedStore(services, store);
    for (const slots of options.slotCounts) {
      const { passes, trips: t, requests, polls, ms: total, storeMs: inStore } = await measurePasses(storeOptions, counter, slots, options);
      rows.push({
        store,
        slots: fmt(slots, 0),
        passes,
        'round trips/pass': t.min === t.max ? String(t.min) : `${t.min}–${t.max}`,
        requests,
        'polls/pass': polls,
        'ms/pass median': fmt(total.median),
        'ms/pass p95': fmt(total.p95),
        'of which store (median)': fmt(inStore.median),
        'of which Node (median)': fmt(total.median - inStore.median),
      });
    }
  }
  return rows;
}
