/**
 * Loads `redis-semaphore` from bench/node_modules (see harness/peers.ts for why it is required
 * relative to bench/package.json), typed by the little the benchmark uses.
 */
import type { Redis } from 'ioredis';
import { loadPeer } from '../harness/peers.js';

export interface SemaphoreLike {
  acquire(): Promise<void>;
  release(): Promise<void>;
}

export interface SemaphoreOptions {
  lockTimeout?: number;
  acquireTimeout?: number;
  retryInterval?: number;
  refreshInterval?: number;
}

export type SemaphoreClass = new (client: Redis, key: string, limit: number, options?: SemaphoreOptions) => SemaphoreLike;

/** redis-semaphore's `Semaphore` and version, or an explanation when it is not installed. */
export function loadRedisSemaphore(): { Semaphore: SemaphoreClass; version: string } | { error: string } {
  const loaded = loadPeer<{ Semaphore: SemaphoreClass }>('redis-semaphore');
  return 'error' in loaded ? loaded : { Semaphore: loaded.module.Semaphore, version: loaded.version };
}
