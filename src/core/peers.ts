/**
 * The optional peer dependencies, `ioredis`, `pg` and `tsx` (for config files in TypeScript),
 * loaded on first use rather than imported by module: importing any entry point of the package
 * works with none installed, and the first use of a missing one throws a
 * {@link MissingPeerError} saying what to install.
 */
import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';
import type * as Pg from 'pg';
import type * as TsxApi from 'tsx/esm/api';
import { MissingPeerError } from './errors.js';

// ioredis and pg are CommonJS, so a synchronous require lets constructors stay synchronous; it
// shares the module instance with an `import` of the same package.
const require = createRequire(import.meta.url);

/** The modules of the peers, by module name: a package, or a package's entry point. */
interface Peers {
  ioredis: typeof IORedis;
  pg: typeof Pg;
}

/** The peers that are imported (ES modules), by module name. */
interface ImportedPeers {
  /** tsx's API: `tsImport` loads a TypeScript module through Node's module hooks, in this process. */
  'tsx/esm/api': typeof TsxApi;
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

/**
 * Imports an optional peer that is an ES module (tsx's API: its CommonJS build cannot load the
 * hooks it registers).
 * @param neededBy - what needs it, for the message
 * @throws MissingPeerError when the package is not installed
 */
export async function importPeer<Name extends keyof ImportedPeers>(name: Name, neededBy: string): Promise<ImportedPeers[Name]> {
  const packageName = name.split('/')[0]!;
  try {
    return (await import(name)) as ImportedPeers[Name];
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' && (error as Error).message.includes(`'${packageName}'`)) {
      throw new MissingPeerError(packageName, neededBy, error);
    }
    throw error;
  }
}
