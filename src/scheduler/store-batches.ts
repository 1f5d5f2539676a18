import type { DeliveryRef, EndRequest, EndResult, SlotStore, StartRequest, StartResult } from '../contracts/store.js';
import { Acknowledgements } from './acknowledgements.js';
import { BatchQueue } from '../core/batch-queue.js';

/**
 * Sends a scheduler's starts, and its ends that keep their slot, to each store in batches when the
 * store can take several per round trip (`startMany`, `endMany`): the starts of one refill round,
 * and the stops of tasks that finish in the same tick, then cost one round trip instead of one
 * each. As many batches of ends may be on their way at once as the store has lanes
 * (SlotStore.batchLanes): one per refill round under way. Stores without those methods get one call per request, as before. Acknowledgements of
 * delivered ends ride on those batches of ends (see {@link Acknowledgements}).
 */
export class StoreBatches {
  private readonly starts = new Map<SlotStore, BatchQueue<StartRequest, StartResult>>();
  private readonly ends = new Map<SlotStore, BatchQueue<EndRequest, EndResult>>();
  private readonly acks: Acknowledgements;

  /** @param onAckError - told of an acknowledgement that failed (its records will be delivered again) */
  constructor(onAckError: (error: unknown, refs: readonly DeliveryRef[]) => void) {
    this.acks = new Acknowledgements(onAckError);
  }

  start(store: SlotStore, request: StartRequest): Promise<StartResult> {
    if (!store.startMany) return store.start(request);
    let batch = this.starts.get(store);
    if (!batch) this.starts.set(store, (batch = new BatchQueue((requests) => store.startMany!(requests))));
    return batch.push(request);
  }

  end(store: SlotStore, request: EndRequest): Promise<EndResult> {
    if (!store.endMany) return this.acks.carry(store, [request], () => store.end(request));
    let batch = this.ends.get(store);
    if (!batch) {
      const run = (requests: EndRequest[]) => this.acks.carry(store, requests, () => store.endMany!(requests));
      this.ends.set(store, (batch = new BatchQueue(run, store.batchLanes ?? 1)));
    }
    return batch.push(request);
  }

  /** While every lane of the store's ends is taken, a promise that settles once one is free; otherwise undefined. */
  endsBusy(store: SlotStore): Promise<void> | undefined {
    return this.ends.get(store)?.full();
  }

  /** Acknowledges a delivered end to a store that keeps a delivery log (on its next ends, or soon alone). */
  acknowledge(store: SlotStore, ref: DeliveryRef): void {
    this.acks.push(store, ref);
  }

  /** Sends the acknowledgements still pending and waits for them: before the stores close. */
  acknowledged(): Promise<void> {
    return this.acks.flush();
  }
}
