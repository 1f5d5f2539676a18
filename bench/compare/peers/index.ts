/** The peers installed in bench/node_modules, by name, with their versions; notes for the missing. */
import { loadRedisSemaphore } from '../../cycles/redis-semaphore.js';
import { loadGraphileWorker } from '../../procrastinate/graphile-worker.js';
import type { PeerName } from '../model.js';
import { loadBullMQ } from './bullmq.js';
import { loadPgBoss } from './pg-boss.js';

export type PeerVersions = Partial<Record<PeerName, string>>;

export function peerVersions(): { versions: PeerVersions; notes: string[] } {
  const versions: PeerVersions = {};
  const notes: string[] = [];
  const loaded: [PeerName, { version: string } | { error: string }][] = [
    ['bullmq', loadBullMQ()],
    ['pg-boss', loadPgBoss()],
    ['graphile-worker', loadGraphileWorker()],
    ['redis-semaphore', loadRedisSemaphore()],
  ];
  for (const [name, result] of loaded) {
    if ('error' in result) notes.push(`${name} skipped: ${result.error}`);
    else versions[name] = result.version;
  }
  return { versions, notes };
}

/** Loads a peer the parent found installed, or throws. */
export function required<T>(loaded: T | { error: string }): T {
  if (typeof loaded === 'object' && loaded !== null && 'error' in loaded) throw new Error(loaded.error);
  return loaded;
}
