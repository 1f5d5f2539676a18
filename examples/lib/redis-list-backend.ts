// examples/lib/redis-list-backend.ts: a backend whose tasks wait in a Redis list (producers
// anywhere `RPUSH` ids onto it) and run as programs of their own, started by `launch`. The
// program holds the task from its start on and keeps its slot alive itself, so a start only
// launches it and returns. Shared by the shell-task and http-task examples.
import { Redis } from 'ioredis';
import { Backend, type TaskContext } from 'task-semaphore';

export abstract class RedisListBackend extends Backend {
  private readonly client: Redis;

  constructor(
    redisUrl: string,
    private readonly queue: string,
  ) {
    super();
    this.client = new Redis(redisUrl, { lazyConnect: true });
  }

  /** Starts the program of one task; it must not wait for the program to end. */
  protected abstract launch(taskId: string, task: TaskContext): void;

  override async open() {
    await this.client.connect();
  }

  poll() {
    return this.client.lpop(this.queue);
  }

  startCallback(taskId: string, task: TaskContext) {
    this.launch(taskId, task);
  }

  override async close() {
    await this.client.quit();
  }
}
