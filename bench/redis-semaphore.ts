/**
 * Loads `redis-semaphore` from bench/node_modules, where `npm --prefix bench install` puts it.
 *
 * The compiled benchmarks run from dist/bench/, and Node resolves a bare `import 'redis-semaphore'`
 * from there upward (dist/bench/node_modules, dist/node_modules, node_modules), never from
 * bench/node_modules. So the package is required relative to bench/package.json instead, which is
 * two levels up from this compiled file and one level up from its source.
 *
 * It is typed here by the little the benchmark uses rather than by importing the package's types,
 * so that `npm run build` (which compiles bench/) passes where the bench dependencies are not
 * installed, e.g. in CI.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

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

/** The bench/ folder: the one holding package.json, from dist/bench/ or from bench/. */
export function benchDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, '..', '..', 'bench'), here]) {
    if (existsSync(join(candidate, 'package.json'))) return candidate;
  }
  return here;
}

/** redis-semaphore's `Semaphore` and version, or an explanation when it is not installed. */
export function loadRedisSemaphore(): { Semaphore: SemaphoreClass; version: string } | { error: string } {
  const dir = benchDir();
  const require = createRequire(join(dir, 'package.json'));
  try {
    const { Semaphore } = require('redis-semaphore') as { Semaphore: SemaphoreClass };
    const { version } = require('redis-semaphore/package.json') as { version: string };
    return { Semaphore, version };
  } catch (error) {
    return { error: `redis-semaphore not found from ${dir} (run: npm --prefix bench install): ${(error as Error).message}` };
  }
}
