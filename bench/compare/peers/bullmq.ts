/**
 * Loads BullMQ from bench/node_modules (see harness/peers.ts for why it is required relative to
 * bench/package.json), typed by the little the benchmark uses.
 */
import { redisUrl } from '../../harness/services.js';
import { loadPeer } from '../../harness/peers.js';

export interface BullJob {
  id?: string;
}

export interface BullQueue {
  add(name: string, data: unknown): Promise<BullJob>;
  addBulk(jobs: readonly { name: string; data: unknown }[]): Promise<BullJob[]>;
  /** The most jobs of the queue processed at once, by all its workers together. */
  setGlobalConcurrency(concurrency: number): Promise<number>;
  waitUntilReady(): Promise<void>;
  close(): Promise<void>;
}

export interface BullWorker {
  on(event: 'completed', listener: (job: BullJob) => void): this;
  on(event: 'failed', listener: (job: BullJob | undefined, error: Error) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  waitUntilReady(): Promise<void>;
  /** Starts processing (for a worker made with `autorun: false`); settles when it closes. */
  run(): Promise<void>;
  close(force?: boolean): Promise<void>;
}

/** What the benchmarks set: the Redis connection, the key prefix, the concurrency. */
export interface BullOptions {
  connection: BullConnection;
  prefix: string;
  concurrency?: number;
  autorun?: boolean;
}

export interface BullMQ {
  Queue: new (name: string, options: BullOptions) => BullQueue;
  Worker: new (name: string, processor: (job: BullJob) => Promise<unknown>, options: BullOptions) => BullWorker;
}

/** ioredis options of REDIS_URL, as BullMQ asks of a worker's connection (no retry limit per request). */
export interface BullConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  maxRetriesPerRequest: null;
}

export function bullConnection(): BullConnection {
  const url = new URL(redisUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    db: Number(url.pathname.slice(1) || 0),
    maxRetriesPerRequest: null,
  };
}

/** BullMQ and its version, or an explanation when it is not installed. */
export function loadBullMQ(): { bullmq: BullMQ; version: string } | { error: string } {
  const loaded = loadPeer<BullMQ>('bullmq');
  return 'error' in loaded ? loaded : { bullmq: loaded.module, version: loaded.version };
}
