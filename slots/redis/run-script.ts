/**
 * Runs the store's Lua scripts: EVALSHA by a SHA1 computed here, so the normal case is one round
 * trip with no SCRIPT LOAD, and EVAL when the server answers NOSCRIPT (a restart, a failover, a
 * SCRIPT FLUSH, or a cluster node that has not seen the script yet). EVAL also caches the script
 * on that server, so the next EVALSHA finds it.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** What a script runner needs of a client; `Redis` and `Cluster` both have it. */
export type ScriptClient = Pick<Redis, 'evalsha' | 'eval'>;

/** A Lua script with its key count and the SHA1 that EVALSHA names it by. */
export interface LuaScript {
  /** For error messages, e.g. `begin-pass-9`. */
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
 * Runs `script` with `keys` and `args` and returns its reply as the caller declares it.
 * @throws the client's error for anything but NOSCRIPT, e.g. a connection error or a Lua error.
 */
export async function runScript<T>(
  client: ScriptClient,
  script: LuaScript,
  keys: readonly string[],
  args: readonly ScriptArg[],
): Promise<T> {
  if (keys.length !== script.numberOfKeys) {
    // A programming error in the store, never a user's: fail before anything reaches the server.
    throw new Error(`script ${script.name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  }
  try {
    return (await client.evalsha(script.sha, script.numberOfKeys, ...keys, ...args)) as T;
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return (await client.eval(script.source, script.numberOfKeys, ...keys, ...args)) as T;
  }
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
