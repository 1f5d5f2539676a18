/**
 * The optional peer dependencies, `ioredis` and `pg`, loaded on first use rather than imported by
 * module: importing any entry point of the package works with neither installed, and the first
 * use of a missing one throws a {@link MissingPeerError} saying what to install.
 */
import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';
import type * as Pg from 'pg';
import { MissingPeerError } from './errors.js';

// Both peers are CommonJS, so a synchronous require lets constructors stay synchronous; it
// shares the module instance with an `import` of the same package.
const require = createRequire(import.meta.url);

/** The modules of the peers, by package name. */
interface Peers {
  ioredis: typeof IORedis;
  pg: typeof Pg;
}

/**
 * Loads an optional peer.
 * @param neededBy - what needs it, for the message (e.g. `RedisSlot`)
 * @throws MissingPeerError when the package is not installed
 */
export function loadPeer<Name extends keyof Peers>(name: Name, neededBy: string): Peers[Name] {
  try {
    return require(name) as Peers[Name];
  } catch (error) {
    // Only the peer itself missing; a broken install of it (a missing file inside) stays as is.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'MODULE_NOT_FOUND' && (error as Error).message.split('\n')[0]!.includes(`'${name}'`)) {
      throw new MissingPeerError(name, neededBy, error);
    }
    throw error;
  }
}
