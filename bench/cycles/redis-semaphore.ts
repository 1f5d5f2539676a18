/**
 * Loads `redis-semaphore` from bench/node_modules (see harness/peers.ts for why it is required
 * relative to bench/package.json), typed by the little the benchmark uses.
 */
import type { Redis } from 'ioredis';
import { peerRequire } from '../harness/peers.js';

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
  const { require, dir } = peerRequire();
  try {
    const { Semaphore } = require('redis-semaphore') as { Semaphore: SemaphoreClass };
    const { version } = require('redis-semaphore/package.json') as { version: string };
    return { Semaphore, version };
  } catch (error) {
    return { error: `redis-semaphore not found from ${dir} (run: npm --prefix bench install): ${(error as Error).message}` };
  }
}
