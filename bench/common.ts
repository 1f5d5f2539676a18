/**
 * Shared by the benchmarks: connections to the services (REDIS_URL, DATABASE_URL), per-run
 * isolation (a random Redis key prefix, a fresh PostgreSQL schema) and its cleanup, exact counts
 * of store round trips, and the statistics and tables the runner prints.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import pg from 'pg';
import * as lua from '../slots/redis/lua.generated.js';

export type StoreKind = 'memory' | 'redis' | 'postgres';

export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A random name for one run's keys, schema or scheduler. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/**
 * The options RedisSlotStore uses for a client it opens from a URL (see `ownedClientOptions` in
 * slots/redis/redis-store.ts), so that a client passed in by a benchmark behaves the same.
 */
export const storeLikeRedisOptions: RedisOptions = {
  maxRetriesPerRequest: 3,
  connectTimeout: 5000,
  lazyConnect: true,
  enableAutoPipelining: true,
};

export async function connectRedis(options: RedisOptions = storeLikeRedisOptions): Promise<Redis> {
  const client = new Redis(redisUrl, { ...options, lazyConnect: true });
  client.on('error', () => {}); // reported by the failed ping below
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    throw new Error(`Redis is not reachable at ${redisUrl} (set REDIS_URL): ${String(error)}`);
  }
  return client;
}

/**
 * A pool like the one PostgresSlotStore opens from a URL (max 10). `config` adds settings, e.g.
 * `{ options: '-c search_path=<schema>' }` for a Procrastinate schema.
 */
export async function connectPostgres(max = 10, config: pg.PoolConfig = {}): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 5000, ...config });
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new Error(`PostgreSQL is not reachable at ${databaseUrl} (set DATABASE_URL): ${String(error)}`);
  }
  return pool;
}

/** Deletes every key of a key prefix: the store's keys all start with `{prefix:`. */
export async function deleteRedisPrefix(client: Redis, keyPrefix: string): Promise<number> {
  let deleted = 0;
  for (const pattern of [`{${keyPrefix}:*`, `${keyPrefix}*`, `semaphore:${keyPrefix}*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await client.unlink(...keys);
    } while (cursor !== '0');
  }
  return deleted;
}

export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
}

/**
 * The services of one bench run: clients and pools made on demand (each benchmark gets its own,
 * so that the counters wrapped around them stay separate), one key prefix and one schema for the
 * whole run, and the cleanup that deletes both and closes every connection.
 */
export class Services {
  readonly keyPrefix = uniqueName('bench');
  readonly schema = uniqueName('bench');
  private readonly clients: Redis[] = [];
  private readonly pools: pg.Pool[] = [];
  private schemaUsed = false;
  /** Schemas handed out by `newSchema` and not yet dropped. */
  private readonly extraSchemas = new Set<string>();

  /** @param autoPipelining - of the Redis clients handed out: off, as in the store's own client, or on. */
  constructor(readonly autoPipelining = false) {}

  async redis(): Promise<Redis> {
    const client = await connectRedis({ ...storeLikeRedisOptions, enableAutoPipelining: this.autoPipelining });
    this.clients.push(client);
    return client;
  }

  /** A pool; the run's schema is created by the first store that migrates it, and dropped by cleanup. */
  async postgres(max = 10, config: pg.PoolConfig = {}): Promise<pg.Pool> {
    const pool = await connectPostgres(max, config);
    this.pools.push(pool);
    this.schemaUsed = true;
    return pool;
  }

  /**
   * A fresh schema name of its own (the caller creates the schema, or has a library create it),
   * dropped by `dropSchema` or, at the latest, by cleanup.
   */
  newSchema(prefix = 'bench'): string {
    const schema = uniqueName(prefix);
    this.extraSchemas.add(schema);
    this.schemaUsed = true;
    return schema;
  }

  /** Drops a schema of `newSchema` now, over `pool`. */
  async dropSchema(pool: pg.Pool, schema: string): Promise<void> {
    await dropSchema(pool, schema);
    this.extraSchemas.delete(schema);
  }

  /**
   * Closes the run's connections first, so that nothing still running (a run cut short) writes
   * after the keys are deleted, then deletes the keys and drops the schema over fresh connections.
   */
  async cleanup(): Promise<string> {
    for (const client of this.clients) client.disconnect();
    // pool.end() waits for clients still checked out: a run cut short mid-query must not keep the
    // schemas from being dropped, so give it 3 s.
    await Promise.race([Promise.allSettled(this.pools.map((pool) => pool.end())), new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
    const done: string[] = [];
    if (this.clients.length > 0) {
      const client = await connectRedis();
      try {
        done.push(`deleted ${await deleteRedisPrefix(client, this.keyPrefix)} Redis keys of prefix ${this.keyPrefix}`);
      } finally {
        client.disconnect();
      }
    }
    if (this.schemaUsed) {
      const pool = await connectPostgres(1);
      try {
        await dropSchema(pool, this.schema);
        done.push(`dropped schema ${this.schema}`);
        // A run cut short may still be working in one (e.g. graphile-worker's own connections):
        // its DROP can then fail on a deadlock or a lock; try again, and drop the others anyway.
        const failed: string[] = [];
        for (const schema of this.extraSchemas) {
          for (let attempt = 1; ; attempt++) {
            try {
              await dropSchema(pool, schema);
              done.push(`dropped schema ${schema}`);
              break;
            } catch (error) {
              if (attempt === 5) {
                failed.push(`${schema} (${String(error)})`);
                break;
              }
              await new Promise((resolve) => setTimeout(resolve, 500));
            }
          }
        }
        this.extraSchemas.clear();
        if (failed.length > 0) throw new Error(`could not drop schema(s), drop them by hand: ${failed.join(', ')}`);
      } finally {
        await pool.end();
      }
    }
    return done.join('; ');
  }
}

// --- counting round trips -------------------------------------------------------------------

/** The store's Lua scripts by SHA1, so that EVALSHA calls are counted under the script's name. */
const scriptNames = new Map<string, string>(
  Object.entries(lua as Record<string, string>)
    // beginPass9 -> begin-pass-9, the script's file name.
    .map(([name, source]) => [createHash('sha1').update(source, 'utf8').digest('hex'), name.replace(/([A-Z]|\d+)/g, (m) => `-${m.toLowerCase()}`)]),
);

/** Counts requests sent to a store: every command, by name (EVALSHA/EVAL by script name). */
export class RoundTrips {
  total = 0;
  readonly byName = new Map<string, number>();
  /** Sum of the time from sending each request to its reply (overlapping requests add up). */
  busyMs = 0;
  /** The same by request name. */
  readonly busyByName = new Map<string, number>();

  add(name: string): void {
    this.total++;
    this.byName.set(name, (this.byName.get(name) ?? 0) + 1);
  }

  /** Adds the time a request of `name` took, from sending it to its reply. */
  took(name: string, ms: number): void {
    this.busyMs += ms;
    this.busyByName.set(name, (this.busyByName.get(name) ?? 0) + ms);
  }

  reset(): void {
    this.total = 0;
    this.byName.clear();
    this.busyMs = 0;
    this.busyByName.clear();
  }

  /** Mean ms from request to reply, by name: e.g. `start-5 0.31 ms`. */
  describeLatency(): string {
    return [...this.byName].map(([name, n]) => `${name} ${fmt((this.busyByName.get(name) ?? 0) / n, 2)} ms`).join(', ') || '-';
  }

  /** e.g. `begin-pass-9×1 release-2×1`. */
  describe(): string {
    return [...this.byName].map(([name, n]) => `${name}×${n}`).join(' ') || '-';
  }
}

interface SentCommand {
  name: string;
  args: unknown[];
  promise: Promise<unknown>;
}

/**
 * Wraps `client.sendCommand`, the one method every ioredis command (auto-pipelined or not) goes
 * through once per request. The count is of requests: each gets its own reply. With
 * auto-pipelining several requests may share one network write, so the number of network round
 * trips can only be lower.
 */
export function countRedis(client: Redis): RoundTrips {
  const counter = new RoundTrips();
  const original = client.sendCommand.bind(client) as (command: SentCommand, ...rest: unknown[]) => Promise<unknown>;
  (client as unknown as { sendCommand: typeof original }).sendCommand = (command, ...rest) => {
    let name = command.name.toLowerCase();
    if (name === 'evalsha') name = scriptNames.get(String(command.args[0])) ?? `evalsha:${String(command.args[0]).slice(0, 8)}`;
    else if (name === 'eval') name = `eval:${scriptNames.get(sha1(String(command.args[0]))) ?? 'other'}`;
    counter.add(name);
    const began = performance.now();
    const result = original(command, ...rest);
    const done = () => counter.took(name, performance.now() - began);
    command.promise.then(done, done);
    return result;
  };
  return counter;
}

/** Wraps `pool.query`: every statement the PostgreSQL store runs is one `pool.query` call. */
export function countPostgres(pool: pg.Pool): RoundTrips {
  const counter = new RoundTrips();
  const original = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: typeof original }).query = (...args: unknown[]) => {
    const text = typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string })?.text ?? '?');
    const name = statementName(text);
    counter.add(name);
    const began = performance.now();
    const result = original(...args);
    const done = () => counter.took(name, performance.now() - began);
    result.then(done, done);
    return result;
  };
  return counter;
}

/** The first line of the store's SQL files is `-- <name>: ...`. */
function statementName(text: string): string {
  const match = /^--\s*([\w-]+)/.exec(text);
  return match ? match[1]! : text.trim().split(/\s+/).slice(0, 2).join(' ').toLowerCase();
}

function sha1(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex');
}

// --- statistics and output -------------------------------------------------------------------

export interface Summary {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
}

/** Median (mean of the middle two for an even count) and nearest-rank p95. */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { n, median: NaN, p95: NaN, min: NaN, max: NaN };
  const mid = Math.floor(n / 2);
  const median = n % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const p95 = sorted[Math.min(n - 1, Math.ceil(0.95 * n) - 1)]!;
  return { n, median, p95, min: sorted[0]!, max: sorted[n - 1]! };
}

/** Nearest-rank percentile (`p` from 0 to 100) of samples. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Numbers for tables: thousands separated, a sensible number of decimals. */
export function fmt(value: number, decimals?: number): string {
  if (!Number.isFinite(value)) return String(value);
  const d = decimals ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

export type Row = Record<string, string | number>;

/** A Markdown table, so that the runner's output can be pasted into RESULTS.md as it is. */
export function table(rows: readonly Row[]): string {
  if (rows.length === 0) return '(no rows)';
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((row) => columns.map((c) => String(row[c] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) => `| ${values.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(columns), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `workers` loops of `op` for `ms` milliseconds (after `warmupMs` of the same) and returns
 * completed operations per second. Each loop awaits its operation before starting the next. The
 * clock is read in the loop, not by a timer: an in-memory operation resolves in microtasks only,
 * so a timer would never get to fire.
 */
export async function throughput(
  workers: number,
  ms: number,
  op: (worker: number, i: number) => Promise<unknown>,
  warmupMs = Math.min(500, ms / 4),
): Promise<{ opsPerSec: number; ops: number; elapsedMs: number }> {
  let i = 0;
  const runFor = async (duration: number) => {
    let ops = 0;
    const began = performance.now();
    const deadline = began + duration;
    await Promise.all(
      Array.from({ length: workers }, async (_, worker) => {
        while (performance.now() < deadline) {
          await op(worker, i++);
          ops++;
        }
      }),
    );
    return { ops, elapsedMs: performance.now() - began };
  };
  if (warmupMs > 0) await runFor(warmupMs);
  const { ops, elapsedMs } = await runFor(ms);
  return { opsPerSec: (ops / elapsedMs) * 1000, ops, elapsedMs };
}

/** Busy and stolen CPU time of the whole machine over an interval, from /proc/stat. */
export interface MachineCpu {
  /** user + nice + system + irq + softirq, all cores, in ms. */
  busyMs: number;
  /** Time the hypervisor ran something else while this machine wanted to run, as a % of the interval's CPU time. */
  stealPercent: number;
}

/** /proc/stat's first line, in clock ticks (null off Linux): user nice system idle iowait irq softirq steal. */
export function machineCpu(): number[] | null {
  try {
    return readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  } catch {
    return null;
  }
}

export function machineCpuSince(before: number[] | null): MachineCpu | null {
  const after = machineCpu();
  if (!before || !after) return null;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = after.map((ticks, i) => ticks - before[i]!) as [number, number, number, number, number, number, number, number];
  // Linux reports /proc/stat in USER_HZ, 100 per second on every common architecture.
  const msPerTick = 10;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busyMs: (user + nice + system + irq + softirq) * msPerTick, stealPercent: total > 0 ? (steal / total) * 100 : 0 };
}
