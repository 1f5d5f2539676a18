/** What each workload module provides: its plan and table (pure data), and how to measure a contender. */
import type { Services } from '../harness/services.js';
import type { Measured, WorkloadInfo } from './model.js';
import type { CompareOptions } from './options.js';
import type { PeerVersions } from './peers/index.js';

/** What a contender's run gets, in its child process. */
export interface RunContext {
  /** The child's keys and schemas: unique to this measurement, removed after it. */
  services: Services;
  options: CompareOptions;
}

export interface WorkloadSpec {
  /** Its title, metrics, contenders (a contender whose peer is not installed is left out by the runner), ratios and notes. */
  describe(options: CompareOptions, peers: PeerVersions): WorkloadInfo;
  /** Measures one contender once. */
  run(contender: string, context: RunContext): Promise<Measured>;
}

/** The version of a peer for labels, `?` when it is not installed (its contenders are skipped anyway). */
export const version = (peers: PeerVersions, name: keyof PeerVersions) => peers[name] ?? '?';
