/**
 * The task source of a fault run: a queue of task ids on a redis-server of the harness's own,
 * never the slot store under test. Each id has one state, changed only by the atomic scripts of
 * `lua/`, so that an id is queued at most once and completed at most once whatever fails:
 *
 *   queued --pop--> claimed:<pid> --begin--> run:<token> --complete--> done
 *      ^                |                        +------cancel------> cancelled
 *      ^                |                        |
 *      +--- hand back --+       (reject, abandoned poll, sweep of a dead claimer)
 *      +------------------- requeue -------------+  (an end without completion: timeout, lost...,
 *                                                     or the sweep of a dead runner)
 *
 * The fencing token guards completion and requeue: a task that lost its slot can neither complete
 * nor requeue a task another occupancy runs now. Claims and runs are listed by pid for the sweeps.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';

/** The Lua scripts, read from the source tree (test code: the package itself reads nothing at run time). */
const luaDir = new URL('../../../../test/faults/harness/lua/', import.meta.url);
const lua = (name: string) => readFileSync(new URL(name, luaDir), 'utf8');

const keys = {
  queue: 'queue',
  delayed: 'delayed',
  state: 'state',
  claims: 'claims',
  runners: 'runners',
  fed: 'fed',
  done: 'done',
  cancelled: 'cancelled',
} as const;

/** The commands `defineCommand` adds, as ioredis leaves them untyped. */
interface SourceCommands {
  sourceFeed(queue: string, state: string, fed: string, ...ids: string[]): Promise<number>;
  sourcePop(queue: string, delayed: string, state: string, claims: string, pid: number): Promise<string | null>;
  sourceHandBack(
    queue: string,
    delayed: string,
    state: string,
    claims: string,
    taskId: string,
    pid: number,
    delayMs: number,
  ): Promise<number>;
  sourceBegin(state: string, claims: string, runners: string, taskId: string, pid: number, token: number): Promise<number>;
  sourceComplete(state: string, runners: string, done: string, taskId: string, token: number): Promise<number>;
  sourceCancel(state: string, runners: string, cancelled: string, taskId: string, token: number): Promise<number>;
  sourceRequeue(queue: string, state: string, runners: string, taskId: string, token: number): Promise<number>;
  sourceRequeueOrphan(queue: string, state: string, runners: string, taskId: string, pid: number): Promise<number>;
}

export class TaskSource {
  private readonly redis: Redis & SourceCommands;

  /** @param url - the harness's own redis-server */
  constructor(url: string) {
    const redis = new Redis(url, { maxRetriesPerRequest: 20 });
    redis.defineCommand('sourceFeed', { numberOfKeys: 3, lua: lua('feed-3.lua') });
    redis.defineCommand('sourcePop', { numberOfKeys: 4, lua: lua('pop-4.lua') });
    redis.defineCommand('sourceHandBack', { numberOfKeys: 4, lua: lua('hand-back-4.lua') });
    redis.defineCommand('sourceBegin', { numberOfKeys: 3, lua: lua('begin-3.lua') });
    redis.defineCommand('sourceComplete', { numberOfKeys: 3, lua: lua('complete-3.lua') });
    redis.defineCommand('sourceCancel', { numberOfKeys: 3, lua: lua('cancel-3.lua') });
    redis.defineCommand('sourceRequeue', { numberOfKeys: 3, lua: lua('requeue-ended-3.lua') });
    redis.defineCommand('sourceRequeueOrphan', { numberOfKeys: 3, lua: lua('requeue-orphan-3.lua') });
    this.redis = redis as Redis & SourceCommands;
  }

  /** Adds new ids, queued. */
  async feed(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.redis.sourceFeed(keys.queue, keys.state, keys.fed, ...ids);
  }

  /** Claims the next queued id for process `pid`, or null. */
  pop(pid: number): Promise<string | null> {
    return this.redis.sourcePop(keys.queue, keys.delayed, keys.state, keys.claims, pid);
  }

  /** Gives back an id still claimed by `pid`, claimable again after `delayMs`; false if it was not. */
  async handBack(taskId: string, pid: number, delayMs = 0): Promise<boolean> {
    return (
      (await this.redis.sourceHandBack(keys.queue, keys.delayed, keys.state, keys.claims, taskId, pid, Math.max(0, Math.ceil(delayMs)))) ===
      1
    );
  }

  /** The occupancy `token` takes over the claim of `pid`; false if `pid` no longer holds the claim. */
  async begin(taskId: string, pid: number, token: number): Promise<boolean> {
    return (await this.redis.sourceBegin(keys.state, keys.claims, keys.runners, taskId, pid, token)) === 1;
  }

  /** Records the completion by occupancy `token`; false if it no longer holds the task. */
  async complete(taskId: string, token: number): Promise<boolean> {
    return (await this.redis.sourceComplete(keys.state, keys.runners, keys.done, taskId, token)) === 1;
  }

  /** Records that occupancy `token` honoured a cancel: the task ends cancelled; false if it no longer holds the task. */
  async cancel(taskId: string, token: number): Promise<boolean> {
    return (await this.redis.sourceCancel(keys.state, keys.runners, keys.cancelled, taskId, token)) === 1;
  }

  /** Queues again a task whose occupancy `token` ended without completing it; false if it does not hold it. */
  async requeue(taskId: string, token: number): Promise<boolean> {
    return (await this.redis.sourceRequeue(keys.queue, keys.state, keys.runners, taskId, token)) === 1;
  }

  /** Queues again a task run by `pid`, a process that died; false if `pid` no longer runs it. */
  async requeueOrphan(taskId: string, pid: number): Promise<boolean> {
    return (await this.redis.sourceRequeueOrphan(keys.queue, keys.state, keys.runners, taskId, pid)) === 1;
  }

  /** Every open claim (`claimed`) and run (`running`): task id and pid. */
  async holders(): Promise<Array<{ taskId: string; pid: number; held: 'claim' | 'run' }>> {
    const [claims, runners] = await Promise.all([this.redis.hgetall(keys.claims), this.redis.hgetall(keys.runners)]);
    return [
      ...Object.entries(claims).map(([taskId, pid]) => ({ taskId, pid: Number(pid), held: 'claim' as const })),
      ...Object.entries(runners).map(([taskId, pid]) => ({ taskId, pid: Number(pid), held: 'run' as const })),
    ];
  }

  /** Ids waiting to be claimed (queued now or after a delay). */
  async waiting(): Promise<number> {
    const [queued, delayed] = await Promise.all([this.redis.llen(keys.queue), this.redis.zcard(keys.delayed)]);
    return queued + delayed;
  }

  /** How many ids were fed, and how many of them are over: completed, or cancelled. */
  async counts(): Promise<{ fed: number; done: number }> {
    const [fed, done, cancelled] = await this.redis.mget(keys.fed, keys.done, keys.cancelled);
    return { fed: Number(fed ?? 0), done: Number(done ?? 0) + Number(cancelled ?? 0) };
  }

  /** How many tasks honoured a cancel (recorded cancelled). */
  async cancelled(): Promise<number> {
    return Number((await this.redis.get(keys.cancelled)) ?? 0);
  }

  /** Every id neither done nor cancelled, with its state; entries of `!anomalies` say how many stale queue entries pop skipped. */
  async notDone(): Promise<Array<{ taskId: string; state: string }>> {
    return Object.entries(await this.redis.hgetall(keys.state))
      .filter(([, state]) => state !== 'done' && state !== 'cancelled')
      .map(([taskId, state]) => ({ taskId, state }));
  }

  close(): void {
    this.redis.disconnect();
  }
}
