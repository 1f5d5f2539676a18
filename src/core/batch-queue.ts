/**
 * Runs work in batches, at most `lanes` batches at a time: the items pushed in the same tick go
 * together, at once when a lane is free (no timer, no added latency when quiet), and the items
 * that arrive while every lane is busy go together in the next batch. Under load this turns one
 * round trip per item into one per batch. With two lanes, the items of one tick are spread over
 * both: while one batch is on its way, the caller works on the other's results.
 */
export class BatchQueue<T, R> {
  private waiting: Array<{ item: T; resolve(result: R): void; reject(error: unknown): void }> = [];
  private readonly running = new Set<Promise<void>>();
  private flushQueued = false;

  /**
   * @param run - does one batch; resolves with one result per item, in order. If it throws for a
   *   batch of several, each item is run again alone, so that only the item at fault sees an error.
   * @param lanes - most batches running at once
   */
  constructor(
    private readonly run: (items: T[]) => Promise<R[]>,
    private readonly lanes = 1,
  ) {}

  /** Queues an item; resolves with its result once its batch ran. */
  push(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.running.size >= this.lanes || this.flushQueued) return;
      // After the current tick's promise callbacks: the items they push join this batch.
      this.flushQueued = true;
      process.nextTick(() => {
        this.flushQueued = false;
        this.flush();
      });
    });
  }

  /** While every lane is busy, a promise that settles once one of them is done; otherwise undefined. */
  full(): Promise<void> | undefined {
    return this.running.size >= this.lanes ? Promise.race(this.running) : undefined;
  }

  /** Resolves once nothing is queued or running. */
  async drained(): Promise<void> {
    while (this.running.size > 0 || this.flushQueued) {
      await (this.running.size > 0 ? Promise.all(this.running) : new Promise((resolve) => process.nextTick(resolve)));
    }
  }

  private flush(): void {
    while (this.running.size < this.lanes && this.waiting.length > 0) {
      // The items waiting are spread over the free lanes.
      const batch = this.waiting.splice(0, Math.ceil(this.waiting.length / (this.lanes - this.running.size)));
      const sent: Promise<void> = this.send(batch).finally(() => {
        this.running.delete(sent);
        this.flush();
      });
      this.running.add(sent);
    }
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
