/**
 * The gauges read from the stores at scrape time: slots by status, overdue slots, the oldest
 * keepalive's age, history size. A scrape never fails because a store does: a read that fails or
 * outlasts the scrape timeout leaves its gauges out of that scrape and counts a scrape error.
 */
import { settlesWithin } from '../../core/call.js';
import type { HistorySize, InspectedSlot, Scheduler } from '../../scheduler/scheduler.js';
import type { MetricFamilies } from './families.js';

/** The statuses a slot can have: each is reported, at 0 too, for every slot class and backend seen. */
const statuses = ['idle', 'reserved', 'running'] as const;

/**
 * One scheduler's reads. A read still under way when the next scrape comes (a store that hangs)
 * is waited for again rather than sent twice: scrapes never pile requests on a sick store.
 */
class SchedulerReads {
  private inspecting: Promise<InspectedSlot[]> | undefined;
  private counting: Promise<HistorySize[]> | undefined;

  /** @param timeoutMs - how long a scrape waits for each read */
  constructor(
    readonly scheduler: Scheduler,
    private readonly timeoutMs: number,
  ) {}

  /** The slots and the history sizes, each undefined when its read failed or did not answer in time. */
  async read(): Promise<{ slots: InspectedSlot[] | undefined; sizes: HistorySize[] | undefined }> {
    this.inspecting ??= this.scheduler.inspect().finally(() => (this.inspecting = undefined));
    this.counting ??= this.scheduler.historySize().finally(() => (this.counting = undefined));
    const [slots, sizes] = await Promise.all([within(this.inspecting, this.timeoutMs), within(this.counting, this.timeoutMs)]);
    return { slots, sizes };
  }
}

/** The value of `work` if it succeeds within `ms`, else undefined; never rejects. */
async function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  // Read even after a timeout, so that a late rejection is never unhandled.
  const outcome = work.then(
    (value) => value,
    () => undefined,
  );
  return (await settlesWithin(work, ms)) ? outcome : undefined;
}

/** The store gauges of every scheduler reporting to one registry. */
export class StoreGauges {
  private readonly reads = new Map<string, SchedulerReads>();
  /** The scrape under way: prom-client asks each gauge at once, and they share it. */
  private scrape: Promise<void> | undefined;

  get size(): number {
    return this.reads.size;
  }

  has(name: string): boolean {
    return this.reads.has(name);
  }

  /** @param timeoutMs - how long a scrape waits for its stores */
  add(scheduler: Scheduler, timeoutMs: number): void {
    this.reads.set(scheduler.name, new SchedulerReads(scheduler, timeoutMs));
  }

  delete(scheduler: Scheduler): void {
    if (this.reads.get(scheduler.name)?.scheduler === scheduler) this.reads.delete(scheduler.name);
  }

  /** Fills the gauges for this scrape: what each gauge's `collect` awaits. */
  collect(families: MetricFamilies): Promise<void> {
    this.scrape ??= this.fill(families).finally(() => (this.scrape = undefined));
    return this.scrape;
  }

  private async fill(f: MetricFamilies): Promise<void> {
    const read = await Promise.all(
      [...this.reads.values()].map(async (reads) => ({ name: reads.scheduler.name, ...(await reads.read()) })),
    );
    f.slots.reset();
    f.slotsOverdue.reset();
    f.keepaliveAgeMax.reset();
    f.historyRecords.reset();
    for (const { name, slots, sizes } of read) {
      if (slots) fillSlots(f, name, slots);
      else f.scrapeErrors.inc({ scheduler: name, read: 'slots' });
      if (sizes) for (const { slotClass, records } of sizes) f.historyRecords.set({ scheduler: name, slot_class: slotClass }, records);
      else f.scrapeErrors.inc({ scheduler: name, read: 'history' });
    }
    // Last, so that the scrape counts everything that happened while it read the stores.
    for (const flush of f.pendingCounts) flush();
  }
}

/** Sets the slot gauges of one scheduler from what `inspect()` read. */
function fillSlots(f: MetricFamilies, scheduler: string, slots: readonly InspectedSlot[]): void {
  /** By slot class and backend: slots by status, overdue slots, the oldest keepalive's age. */
  const groups = new Map<string, { labels: { scheduler: string; slot_class: string; backend: string }; oldestMs: number | null }>();
  for (const slot of slots) {
    const labels = { scheduler, slot_class: slot.slotCls, backend: backendOf(slot) };
    const key = `${labels.slot_class}\u0000${labels.backend}`;
    let group = groups.get(key);
    if (!group) {
      group = { labels, oldestMs: null };
      groups.set(key, group);
      for (const status of statuses) f.slots.set({ ...labels, status }, 0);
      f.slotsOverdue.set(labels, 0);
    }
    f.slots.inc({ ...labels, status: slot.status });
    if (slot.overdue) f.slotsOverdue.inc(labels);
    if (slot.occupancy) {
      const ageMs = Math.max(0, slot.storeNow - slot.occupancy.lastKeepaliveAt);
      group.oldestMs = Math.max(group.oldestMs ?? 0, ageMs);
    }
  }
  for (const { labels, oldestMs } of groups.values()) {
    if (oldestMs !== null) f.keepaliveAgeMax.set(labels, oldestMs / 1000);
  }
}

/**
 * The backend a slot counts under: its task's while it runs; else the first its config lists,
 * the one it polls first; "" for a slot this scheduler's config does not have (it drains, or the
 * scheduler loaded no config).
 */
function backendOf(slot: InspectedSlot): string {
  return slot.occupancy?.backend ?? slot.backends[0] ?? '';
}
