import type { DeliveryRef, EndRequest, EndResult, SlotStore, StartRequest, StartResult } from '../slots/store.js';
import { BatchQueue } from './batch-queue.js';

/**
 * Sends a scheduler's starts, and its ends that keep their slot, to each store in batches when the
 * store can take several per round trip (`startMany`, `endMany`): the starts of one refill round,
 * and the stops of tasks that finish in the same tick, then cost one round trip instead of one
 * each. Stores without those methods get one call per request, as before. Acknowledgements of
 * delivered ends always go in batches (`acknowledge` takes several).
 */
export class StoreBatches {
  private readonly starts = new Map<SlotStore, BatchQueue<StartRequest, StartResult>>();
  private readonly ends = new Map<SlotStore, BatchQueue<EndRequest, EndResult>>();
  private readonly acks = new Map<SlotStore, BatchQueue<DeliveryRef, void>>();

  start(store: SlotStore, request: StartRequest): Promise<StartResult> {
    if (!store.startMany) return store.start(request);
    let batch = this.starts.get(store);
    if (!batch) this.starts.set(store, (batch = new BatchQueue((requests) => store.startMany!(requests))));
    return batch.push(request);
  }

  end(store: SlotStore, request: EndRequest): Promise<EndResult> {
    if (!store.endMany) return store.end(request);
    let batch = this.ends.get(store);
    if (!batch) this.ends.set(store, (batch = new BatchQueue((requests) => store.endMany!(requests))));
    return batch.push(request);
  }

  /** Acknowledges a delivered end to a store that keeps a delivery log; resolves at once for one that keeps none. */
  async acknowledge(store: SlotStore, ref: DeliveryRef): Promise<void> {
    if (!store.acknowledge) return;
    let batch = this.acks.get(store);
    if (!batch) this.acks.set(store, (batch = new BatchQueue(async (refs) => (await store.acknowledge!(refs), refs.map(() => undefined)))));
    return batch.push(ref);
  }

  /** Resolves once no acknowledgement is queued or in flight: before the stores close. */
  async acknowledged(): Promise<void> {
    await Promise.all([...this.acks.values()].map((batch) => batch.drained()));
  }
}
