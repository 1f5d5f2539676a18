/** The peers installed in bench/node_modules, by name, with their versions; notes for the missing. */
import { loadPeer } from '../../harness/peers.js';
import type { PeerName } from '../model.js';

export type PeerVersions = Partial<Record<PeerName, string>>;

/** The peers installed, their versions, what each says of itself (`bullmq 6.7.6 (engines: node >=14.18.0)`), and notes for the missing. */
export function peerVersions(): { versions: PeerVersions; described: string[]; notes: string[] } {
  const versions: PeerVersions = {};
  const described: string[] = [];
  const notes: string[] = [];
  for (const name of ['bullmq', 'pg-boss', 'graphile-worker', 'redis-semaphore'] as const) {
    const loaded = loadPeer(name);
    if ('error' in loaded) notes.push(`${name} skipped: ${loaded.error}`);
    else {
      versions[name] = loaded.version;
      described.push(`${name} ${loaded.version}${loaded.node ? ` (engines: node ${loaded.node})` : ''}`);
    }
  }
  return { versions, described, notes };
}

/** Loads a peer the parent found installed, or throws. */
export function required<T>(loaded: T | { error: string }): T {
  if (typeof loaded === 'object' && loaded !== null && 'error' in loaded) throw new Error(loaded.error);
  return loaded;
}
