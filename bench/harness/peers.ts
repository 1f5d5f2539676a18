/**
 * Peer libraries for comparison (redis-semaphore, graphile-worker) live in bench/node_modules,
 * where `npm --prefix bench install` puts them, so that they stay out of the library's
 * dependencies.
 *
 * The compiled benchmarks run from dist/bench/, and Node resolves a bare `import 'redis-semaphore'`
 * from there upward (dist/bench/node_modules, dist/node_modules, node_modules), never from
 * bench/node_modules. So a peer is required relative to bench/package.json instead. Each loader
 * types its peer by the little the benchmark uses rather than by importing the package's types, so
 * that `npm run build` (which compiles bench/) passes where the peers are not installed, e.g. in CI.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bench/ folder: the one holding package.json, from dist/bench/harness/ or from bench/harness/. */
export function benchDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, '..', '..', '..', 'bench'), join(here, '..')]) {
    if (existsSync(join(candidate, 'package.json'))) return candidate;
  }
  return here;
}

/** A `require` that resolves packages as bench/package.json would. */
export function peerRequire(): { require: NodeJS.Require; dir: string } {
  const dir = benchDir();
  return { require: createRequire(join(dir, 'package.json')), dir };
}

/** The nearest package.json named `name` above a resolved file of the package (empty when none is found). */
export function packageJson(name: string, file: string): { version?: string; engines?: { node?: string } } {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
        engines?: { node?: string };
      };
      if (pkg.name === name) return pkg;
    } catch {
      // no package.json here: go up
    }
  }
  return {};
}

/**
 * A peer package, required as bench/package.json would, with its version and the Node versions
 * it declares (`engines.node`); or why it could not be.
 */
export function loadPeer<T>(name: string): { module: T; version: string; node?: string } | { error: string } {
  const { require, dir } = peerRequire();
  try {
    const module = require(name) as T;
    // Not every package exports its package.json: read it next to the resolved entry point.
    const pkg = packageJson(name, require.resolve(name));
    return { module, version: pkg.version ?? '?', ...(pkg.engines?.node ? { node: pkg.engines.node } : {}) };
  } catch (error) {
    return { error: `${name} not found from ${dir} (run: npm --prefix bench install): ${(error as Error).message}` };
  }
}
