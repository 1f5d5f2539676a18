/**
 * Runs the store's Lua scripts: EVALSHA by a SHA1 computed here, so the normal case is one round
 * trip with no SCRIPT LOAD, and EVAL when the server answers NOSCRIPT (a restart, a failover, a
 * SCRIPT FLUSH, or a cluster node that has not seen the script yet). EVAL also caches the script
 * on that server, so the next EVALSHA finds it. On request, a `WAIT` on the same node and
 * connection then says how many replicas have the script's writes.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** What a script runner needs of a client; `Redis` and `Cluster` both have it. */
export type ScriptClient = Pick<Redis, 'evalsha' | 'eval' | 'pipeline'>;

/** Wait for this many replicas to have a script's writes, at most this long (Redis `WAIT`). */
export interface ReplicaWait {
  replicas: number;
  timeoutMs: number;
}

/** Thrown when fewer replicas than asked confirmed a script's writes in time: they may yet be lost. */
export class ReplicaWaitError extends Error {
  override readonly name = 'ReplicaWaitError';
  constructor(
    readonly confirmed: number,
    readonly wait: ReplicaWait,
  ) {
    super(`WAIT: ${confirmed} of ${wait.replicas} replicas confirmed the write within ${wait.timeoutMs} ms`);
  }
}

/** A Lua script with its key count and the SHA1 that EVALSHA names it by. */
export interface LuaScript {
  /** For error messages, e.g. `begin-pass-13`. */
  readonly name: string;
  readonly source: string;
  readonly sha: string;
  readonly numberOfKeys: number;
}

/** Arguments are sent as strings; ioredis turns numbers into their decimal text. */
export type ScriptArg = string | number;

/** Wraps a script's source with its SHA1 and key count, once, at module load. */
export function defineScript(name: string, source: string, numberOfKeys: number): LuaScript {
  const sha = createHash('sha1').update(source, 'utf8').digest('hex');
  return Object.freeze({ name, source, sha, numberOfKeys });
}

/**
 * Runs `script` with `keys` and `args` and returns its reply as the caller declares it; with
 * `wait`, only once `wait.replicas` replicas have its writes.
 * @throws the client's error for anything but NOSCRIPT, e.g. a connection error or a Lua error.
 * @throws {ReplicaWaitError} when fewer replicas than `wait.replicas` confirmed it in time.
 */
export async function runScript<T>(
  client: ScriptClient,
  script: LuaScript,
  keys: readonly string[],
  args: readonly ScriptArg[],
  wait?: ReplicaWait,
): Promise<T> {
  if (keys.length !== script.numberOfKeys) {
    // A programming error in the store, never a user's: fail before anything reaches the server.
    throw new Error(`script ${script.name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  }
  let reply: T;
  try {
    reply = (await client.evalsha(script.sha, script.numberOfKeys, ...keys, ...args)) as T;
  } catch (error) {
    if (!isNoScript(error)) throw error;
    reply = (await client.eval(script.source, script.numberOfKeys, ...keys, ...args)) as T;
  }
  if (wait !== undefined && wait.replicas > 0) await confirmWrites(client, keys[0]!, wait);
  return reply;
}

/**
 * Asks the node that holds `key` how many replicas have this connection's writes: WAIT, pipelined
 * behind a read of `key` so that a Cluster client sends it to that node, on the connection the
 * script just used (one per node). It counts every write sent on that connection so far, the
 * script's included. Should the slot move in between, WAIT asks the new master on another
 * connection: after a kill, with one replica per master, it has none yet (nothing confirmed),
 * and a manual failover loses no write anyway.
 */
async function confirmWrites(client: ScriptClient, key: string, wait: ReplicaWait): Promise<void> {
  const results = (await client.pipeline().exists(key).wait(wait.replicas, wait.timeoutMs).exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  const confirmed = Number(results[1]?.[1] ?? 0);
  if (confirmed < wait.replicas) throw new ReplicaWaitError(confirmed, wait);
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
