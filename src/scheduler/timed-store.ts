/**
 * Times every call a scheduler makes to its stores, in one place: each store is wrapped where the
 * scheduler builds it (`SchedulerState.storeOf`), so that no round trip escapes a `store:call`
 * event, whichever part of the scheduler makes it.
 */
import { performance } from 'node:perf_hooks';
import type { SlotStore } from '../contracts/store.js';
import { toError } from '../core/errors.js';

/** A store method a scheduler calls. */
export type StoreMethod = Exclude<keyof SlotStore, 'kind' | 'batchLanes' | 'listening'>;

/** One settled call to a store, as `store:call` tells it. */
export interface StoreCall {
  /** The slot class whose store was called. */
  slotClass: string;
  method: StoreMethod;
  /** From the call to its settling, on this host's monotonic clock. */
  durationMs: number;
  /** What the call rejected with, when it failed. */
  error?: Error;
}

/** Who hears of the calls: `watched` is asked on every call, so it must be cheap. */
export interface StoreCallWatch {
  /** Whether anyone listens; when not, calls go straight to the store, untimed. */
  watched(): boolean;
  told(call: StoreCall): void;
}

/**
 * Every method of the contract (the compiler holds this to it, so a new method cannot go
 * unwrapped); the optional ones are wrapped only where the store has them.
 */
const methods = Object.keys({
  init: true,
  beginPass: true,
  start: true,
  startMany: true,
  release: true,
  keepalive: true,
  end: true,
  endMany: true,
  acknowledge: true,
  acquire: true,
  leaveQueue: true,
  requestCancel: true,
  subscribe: true,
  inspect: true,
  history: true,
  historySize: true,
  purge: true,
  close: true,
} satisfies Record<StoreMethod, true>) as StoreMethod[];

type Method = (...args: unknown[]) => Promise<unknown>;

/**
 * The store, with each method timed while `watch` is watched. Optional methods the store lacks
 * stay absent, as callers test for them (`startMany`, `acknowledge`, …). Unwatched, a call costs
 * one extra function call and the `watched()` check: this is the hot path of every task.
 */
export function timedStore(store: SlotStore, slotClass: string, watch: StoreCallWatch): SlotStore {
  const timed: Partial<Record<StoreMethod, Method>> & Pick<SlotStore, 'kind' | 'batchLanes'> = {
    get kind() {
      return store.kind;
    },
    get batchLanes() {
      return store.batchLanes;
    },
  };
  for (const method of methods) {
    const call = store[method] as Method | undefined;
    if (typeof call !== 'function') continue;
    timed[method] = (...args) => {
      if (!watch.watched()) return call.apply(store, args);
      const began = performance.now();
      return call.apply(store, args).then(
        (value) => {
          watch.told({ slotClass, method, durationMs: performance.now() - began });
          return value;
        },
        (error: unknown) => {
          watch.told({ slotClass, method, durationMs: performance.now() - began, error: toError(error) });
          throw error;
        },
      );
    };
  }
  // Read from memory, not a round trip: passed on untimed.
  if (typeof store.listening === 'function') (timed as { listening?: () => boolean }).listening = () => store.listening!();
  return timed as unknown as SlotStore;
}
