/**
 * Loads `graphile-worker` from bench/node_modules (see harness/peers.ts for why it is required
 * relative to bench/package.json), typed by the little the benchmark uses.
 */
import type { EventEmitter } from 'node:events';
import { loadPeer } from '../harness/peers.js';

/** A job to add: `addJobs` takes many in one statement. */
export interface GraphileJobSpec {
  identifier: string;
  payload: unknown;
}

/** The options of `run`, `runMigrations` and `makeWorkerUtils` that the benchmark sets. */
export interface GraphileOptions {
  connectionString: string;
  schema: string;
  logger: unknown;
  concurrency?: number;
  noHandleSignals?: boolean;
  taskList?: Record<string, (payload: unknown) => Promise<void> | void>;
  events?: EventEmitter;
  /** Options of the newer style (0.16+), e.g. `{ worker: { localQueue: { size: 11 } } }`. */
  preset?: { worker?: Record<string, unknown> };
}

export interface GraphileRunner {
  stop(): Promise<void>;
  promise: Promise<void>;
}

export interface GraphileWorkerUtils {
  addJob(identifier: string, payload: unknown): Promise<unknown>;
  addJobs(specs: readonly GraphileJobSpec[]): Promise<readonly unknown[]>;
  release(): Promise<void>;
}

export interface GraphileWorker {
  run(options: GraphileOptions): Promise<GraphileRunner>;
  runMigrations(options: GraphileOptions): Promise<void>;
  makeWorkerUtils(options: GraphileOptions): Promise<GraphileWorkerUtils>;
  /** `new Logger(factory)`: a factory returning a function that drops every message is a silent logger. */
  Logger: new (factory: (scope: unknown) => (level: string, message: string, meta?: unknown) => void) => unknown;
}

/** graphile-worker and its version, or an explanation when it is not installed. */
export function loadGraphileWorker(): { worker: GraphileWorker; version: string } | { error: string } {
  const loaded = loadPeer<GraphileWorker>('graphile-worker');
  return 'error' in loaded ? loaded : { worker: loaded.module, version: loaded.version };
}
