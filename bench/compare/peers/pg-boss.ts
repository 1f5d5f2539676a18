/**
 * Loads pg-boss from bench/node_modules (see harness/peers.ts for why it is required relative to
 * bench/package.json), typed by the little the benchmark uses. pg-boss 10 is the newest that
 * declares Node 20 (11 and 12 want Node 22).
 */
import { loadPeer } from '../../harness/peers.js';

export interface PgBossJob {
  id: string;
}

export interface PgBossWorkOptions {
  /** Jobs fetched per poll, handed to the handler together. */
  batchSize: number;
  /** Seconds between polls, at least 0.5; a poll that found jobs waits the rest of it too. */
  pollingIntervalSeconds: number;
}

export interface PgBoss {
  on(event: 'error', listener: (error: Error) => void): this;
  start(): Promise<unknown>;
  createQueue(name: string): Promise<void>;
  insert(jobs: readonly { name: string; data?: unknown }[]): Promise<void>;
  send(name: string, data: object): Promise<string | null>;
  /** Resolves to the worker's id. */
  work(name: string, options: PgBossWorkOptions, handler: (jobs: PgBossJob[]) => Promise<unknown>): Promise<string>;
  /** Skips the worker's wait before its next poll, this once. */
  notifyWorker(workerId: string): void;
  offWork(name: string): Promise<void>;
  stop(options?: { graceful?: boolean; wait?: boolean; timeout?: number }): Promise<void>;
  getDb(): { executeSql(text: string, values: unknown[]): Promise<{ rows: Record<string, unknown>[] }> };
}

export type PgBossClass = new (options: { connectionString: string; schema: string; max?: number }) => PgBoss;

/** pg-boss and its version, or an explanation when it is not installed. */
export function loadPgBoss(): { PgBoss: PgBossClass; version: string } | { error: string } {
  const loaded = loadPeer<PgBossClass>('pg-boss');
  return 'error' in loaded ? loaded : { PgBoss: loaded.module, version: loaded.version };
}
