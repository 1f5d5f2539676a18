/**
 * Runs work in batches, one batch at a time: the items pushed in the same tick go together, at
 * once when nothing is running (no timer, no added latency when quiet), and the items that arrive
 * while a batch runs go together in the next. Under load this turns one round trip per item into
 * one per batch.
 */
export class BatchQueue<T, R> {
  private waiting: Array<{ item: T; resolve(result: R): void; reject(error: unknown): void }> = [];
  private running: Promise<void> | undefined;
  private flushQueued = false;

  /**
   * @param run - does one batch; resolves with one result per item, in order. If it throws for a
   *   batch of several, each item is run again alone, so that only the item at fault sees an error.
   * @param maxBatch - most items per batch
   */
  constructor(
    private readonly run: (items: T[]) => Promise<R[]>,
    private readonly maxBatch = Number.POSITIVE_INFINITY,
  ) {}

  /** Queues an item; resolves with its result once its batch ran. */
  push(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.running || this.flushQueued) return;
      // After the current tick's promise callbacks: the items they push join this batch.
      this.flushQueued = true;
      process.nextTick(() => {
        this.flushQueued = false;
        this.flush();
      });
    });
  }

  /** Resolves once nothing is queued or running. */
  async drained(): Promise<void> {
    while (this.running || this.flushQueued) await (this.running ?? new Promise((resolve) => process.nextTick(resolve)));
  }

  private flush(): void {
    if (this.running || this.waiting.length === 0) return;
    const batch = this.waiting.splice(0, this.maxBatch);
    this.running = this.send(batch).finally(() => {
      this.running = undefined;
      this.flush();
    });
  }

  private async send(batch: typeof this.waiting): Promise<void> {
    try {
      const results = await this.run(batch.map((entry) => entry.item));
      batch.forEach((entry, i) => entry.resolve(results[i]!));
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
      await Promise.all(batch.map((entry) => this.send([entry])));
    }
  }
}
