import type { DeliveryRef, EndRequest, SlotStore } from '../contracts/store.js';

/**
 * How long an acknowledgement waits for an end to ride on before it is sent alone. A busy
 * scheduler sends ends to its store every few milliseconds; an idle one pays one round trip a
 * little later, which only widens by as much the window in which a crash causes a redelivery.
 */
const soloDelayMs = 20;

/**
 * The wait before a failed solo acknowledgement is sent again, doubled at each failure up to
 * {@link retryMaxMs}. Its records would be delivered again once their lease lapses: each try that
 * gets through first spares the backend a second callback.
 */
const retryFirstMs = 100;
const retryMaxMs = 5000;

/**
 * Acknowledges delivered ends to their stores (see `SlotStore.acknowledge`) at the least cost: the
 * acknowledgements pending for a store ride on the next batch of ends sent to it
 * (`EndRequest.acknowledge`), and a store that gets no end within {@link soloDelayMs} gets them in
 * one `acknowledge` call of their own, sent again after a failure until it gets through or the
 * scheduler closes. A late or failed acknowledgement costs a redelivery once the delivery lease
 * lapses, never a lost callback.
 */
export class Acknowledgements {
  private readonly pending = new Map<SlotStore, { refs: DeliveryRef[]; timer: NodeJS.Timeout }>();
  /** Solo `acknowledge` calls under way, awaited by {@link flush}. */
  private readonly sending = new Set<Promise<void>>();
  /** The wait before the next try, per store whose last solo call failed. */
  private readonly retryWaitMs = new Map<SlotStore, number>();
  /** Set by {@link flush}: from then on a failed call is reported, not tried again. */
  private closing = false;

  /** @param onError - told of an `acknowledge` call that failed, and of the records it named */
  constructor(private readonly onError: (error: unknown, refs: readonly DeliveryRef[]) => void) {}

  /** Queues the acknowledgement of a delivered record; a store without a delivery log needs none. */
  push(store: SlotStore, ref: DeliveryRef): void {
    if (store.acknowledge) this.queue(store, [ref], soloDelayMs);
  }

  /** Adds `refs` to what is pending for `store`, to go alone after `delayMs` unless an end takes them first. */
  private queue(store: SlotStore, refs: readonly DeliveryRef[], delayMs: number): void {
    let entry = this.pending.get(store);
    if (!entry) {
      const timer = setTimeout(() => this.sendAlone(store), delayMs);
      timer.unref();
      this.pending.set(store, (entry = { refs: [], timer }));
    }
    entry.refs.push(...refs);
  }

  /**
   * Sends `requests` (ends, in order) through `send`, with the acknowledgements pending for the
   * store on the first of them; if the call fails they are queued again, as it applied nothing.
   */
  async carry<R>(store: SlotStore, requests: readonly EndRequest[], send: () => Promise<R>): Promise<R> {
    const refs = this.take(store);
    if (!refs) return send();
    const first = requests[0] as EndRequest;
    first.acknowledge = refs;
    try {
      return await send();
    } catch (error) {
      for (const ref of refs) this.push(store, ref);
      throw error;
    } finally {
      delete first.acknowledge; // the request may be sent again, alone, after a failed batch
    }
  }

  /**
   * Sends what is pending now, one call per store, and waits for every call under way: the last
   * call, before the stores close. A call that fails from then on is reported, not tried again.
   */
  async flush(): Promise<void> {
    this.closing = true;
    for (const store of [...this.pending.keys()]) this.sendAlone(store);
    await Promise.allSettled([...this.sending]);
  }

  private take(store: SlotStore): DeliveryRef[] | undefined {
    const entry = this.pending.get(store);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.pending.delete(store);
    return entry.refs;
  }

  private sendAlone(store: SlotStore): void {
    const refs = this.take(store);
    if (!refs) return;
    const sent: Promise<void> = store.acknowledge!(refs)
      .then(
        () => void this.retryWaitMs.delete(store),
        (error: unknown) => {
          this.onError(error, refs);
          if (this.closing) return;
          const waitMs = Math.min(retryMaxMs, 2 * (this.retryWaitMs.get(store) ?? retryFirstMs / 2));
          this.retryWaitMs.set(store, waitMs);
          this.queue(store, refs, waitMs);
        },
      )
      .finally(() => this.sending.delete(sent));
    this.sending.add(sent);
  }
}
