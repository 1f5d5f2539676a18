import { performance } from 'node:perf_hooks';
import type { SlotStore } from '../contracts/store.js';

/**
 * The clock of each store as this process last read it (a pass's `now`), carried forward on the
 * monotonic clock: for the few times the scheduler stamps a record itself (the end of a task
 * whose occupancy the store lost), so that the stamp agrees with the store's own even when this
 * host's wall clock is minutes off. Never used to decide anything: the store decides by its own.
 */
export class StoreClocks {
  /** Store ms minus `performance.now()` at its last reading. */
  private readonly offsets = new WeakMap<SlotStore, number>();

  /**
   * The store answered a call sent at `sentAt` (`performance.now()`) with its clock reading
   * `storeNow`. The store read it after the call went, so counting from the send time never
   * puts the store's clock behind what it has stamped since: an age read off it is never
   * negative, and too long by at most one round trip.
   */
  observe(store: SlotStore, storeNow: number, sentAt: number): void {
    this.offsets.set(store, storeNow - sentAt);
  }

  /** The store's clock now as last read, or this host's wall clock before the store first answered. */
  now(store: SlotStore | undefined): number {
    const offset = store && this.offsets.get(store);
    return offset === undefined ? Date.now() : Math.round(performance.now() + offset);
  }
}
