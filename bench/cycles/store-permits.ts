/**
 * Permits taken at the store level, as the Scheduler drives the SlotStore contract: `beginPass`
 * reserving one idle slot of a list, `start` of the caller's task id in it, and `end` (reason
 * `stopped`) freeing it: three store requests per acquire and release.
 */
import type { SlotId, SlotStore } from '../../src/index.js';

/** A slot held by a task id, under the token of its occupancy. */
export interface Permit {
  taskId: string;
  token: number;
}

export interface Permits {
  /** Takes an idle slot for `taskId`; waits for one to free when `wait` was given, else throws. */
  acquire(taskId: string): Promise<Permit>;
  release(permit: Permit): Promise<void>;
  close(): Promise<void>;
}

export interface StorePermitsOptions {
  /** Id of the caller, stored as the reservations' owner. */
  owner: string;
  /**
   * When no slot is idle, wait: for the store's `freed` event (each release publishes one), or
   * `retryMs` at most, before trying again. Without it, acquire throws when no slot is idle.
   */
  wait?: { retryMs: number };
}

const backend = 'bench';
const retentionMs = 3_600_000; // the Scheduler's default endedRetention
const leaseMs = 60_000; // its default reservationTimeout

/** Permits over the slots `slotIds` of `store` (initialised already). */
export async function storePermits(store: SlotStore, slotIds: readonly SlotId[], options: StorePermitsOptions): Promise<Permits> {
  let freed = 0; // how many `freed` events arrived: a waiter that saw none since it looked waits
  let wake: (() => void) | undefined;
  let wakeup: Promise<void> = new Promise((resolve) => (wake = resolve));
  const unsubscribe =
    options.wait && store.subscribe
      ? await store.subscribe((event) => {
          if (event.type !== 'freed') return;
          freed++;
          wake!();
          wakeup = new Promise((resolve) => (wake = resolve));
        })
      : undefined;

  return {
    async acquire(taskId) {
      for (;;) {
        const seen = freed;
        const pass = await store.beginPass({
          slotIds,
          owner: options.owner,
          leaseMs,
          deliverable: [backend],
          retentionMs,
          limit: 1000,
          maxReserve: 1,
        });
        const reservation = pass.reserved[0];
        if (reservation) {
          const started = await store.start({ ...reservation, taskId, backend, timeoutMs: 300_000, maxRuntimeMs: null });
          if (!started.ok) throw new Error(`start failed: ${started.reason}`);
          return { taskId, token: reservation.token };
        }
        if (!options.wait) throw new Error(`none of slots ${slotIds.join(', ')} was idle`);
        if (freed !== seen) continue; // a slot freed while we looked: look again at once
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([wakeup, new Promise<void>((resolve) => (timer = setTimeout(resolve, options.wait!.retryMs)))]);
        clearTimeout(timer);
      }
    },
    async release({ taskId, token }) {
      const ended = await store.end({
        taskId,
        token,
        reason: 'stopped',
        status: 'succeeded',
        deliverable: [backend],
        notify: options.wait !== undefined,
      });
      if (!ended.ok) throw new Error(`end failed: ${ended.reason}`);
    },
    async close() {
      await unsubscribe?.();
    },
  };
}
