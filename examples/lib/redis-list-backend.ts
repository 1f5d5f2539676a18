// examples/lib/redis-list-backend.ts: a backend whose tasks wait in a Redis list (producers
// anywhere `RPUSH` ids onto it) and run as programs of their own, started by `launch`. The
// program holds the task from its start on and keeps its slot alive itself, so a start only
// launches it and returns. Shared by the shell-task and http-task examples.
//
// `LPOP` takes an id off the list for good: the poll claims it. So an id that polled and then
// not started (a shutdown under way, a slot lost, a store error, the same id running already)
// goes back on the list in `rejectCallback`, or it would be lost.
import { Redis } from 'ioredis';
import { Backend, type RejectInfo, type TaskContext } from 'task-semaphore';

export abstract class RedisListBackend extends Backend {
  // Lets the scheduler poll a slot before the stop that frees it lands: one round trip saved
  // between two tasks. True because the poll takes the id off the list (see rejectCallback).
  override readonly claimsTasks = true;
  private readonly client: Redis;

  constructor(
    redisUrl: string,
    private readonly queue: string,
  ) {
    super();
    this.client = new Redis(redisUrl, { lazyConnect: true });
  }

  /** Where ids no slot store can take (`invalid_id`) are moved, for an operator to look at. */
  get invalidQueue(): string {
    return `${this.queue}:invalid`;
  }

  /** Starts the program of one task; it must not wait for the program to end. */
  protected abstract launch(taskId: string, task: TaskContext): void;

  override async open() {
    await this.client.connect();
  }

  // One id per poll. A batch poll (LPOP with a count) was measured slower under the bench's W4:
  // it starts a pass's tasks together, so that they end together and queue for the same round trips.
  poll() {
    return this.client.lpop(this.queue);
  }

  startCallback(taskId: string, task: TaskContext) {
    this.launch(taskId, task);
  }

  override async rejectCallback(taskId: string, { reason }: RejectInfo) {
    // No store will ever take it: kept aside rather than offered again forever.
    if (reason === 'invalid_id') await this.client.rpush(this.invalidQueue, taskId);
    // The same id runs now: behind the others, so that it is not polled again at once.
    else if (reason === 'duplicate') await this.client.rpush(this.queue, taskId);
    // Not started through no fault of its own: back at the head, where it was.
    else await this.client.lpush(this.queue, taskId);
  }

  override async close() {
    await this.client.quit();
  }
}
