/**
 * The arguments the fault suite's command lines share: `--name=value` flags from a fixed list,
 * `--help`, the store and the seed. Errors name the argument, the bad value and what is allowed.
 */
import { randomSeed } from './rng.js';
import { allStoreKinds, storeKinds, type StoreKind } from './stores.js';

/**
 * Reads `--name[=value]` flags; prints `usage` and exits on `--help`.
 * @throws Error naming an argument that is not one of `names`
 */
export function readArgs(argv: readonly string[], names: readonly string[], usage: string): Map<string, string> {
  const args = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--(\w+)(?:=(.*))?$/.exec(arg);
    if (!match || ![...names, 'help'].includes(match[1]!)) throw new Error(`unknown argument "${arg}"\n${usage}`);
    args.set(match[1]!, match[2] ?? '');
  }
  if (args.has('help')) {
    console.log(usage);
    process.exit(0);
  }
  return args;
}

/**
 * The stores of `--store` among `allowed` (`all` or absent: redis and postgres; another kind only
 * by name).
 */
export function storesArg(value = 'all', allowed: readonly StoreKind[] = allStoreKinds): StoreKind[] {
  if (value !== 'all' && !allowed.includes(value as StoreKind))
    throw new Error(`--store: got "${value}"; allowed: ${allowed.join(', ')}, all`);
  return value === 'all' ? [...storeKinds] : [value as StoreKind];
}

/** The seed of `--seed`, or a random one. */
export function seedArg(value?: string): number {
  const seed = Number(value ?? randomSeed());
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed: got "${value}"; allowed: an integer`);
  return seed;
}
