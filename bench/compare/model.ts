/**
 * What the compare runner plans, measures and prints: workloads, their contenders and metrics,
 * the ratios taken pair by pair, and one measurement (one contender, one round, one process).
 * Plain data, shared by the parent that plans and prints and the child that measures.
 */

export const workloadKeys = ['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W7'] as const;
export type WorkloadKey = (typeof workloadKeys)[number];

/** The peer libraries, from bench/node_modules. */
export type PeerName = 'bullmq' | 'pg-boss' | 'graphile-worker' | 'redis-semaphore';

export interface MetricDef {
  key: string;
  /** Column heading, with its unit. */
  label: string;
  /** Which way is better, for ratios and targets. */
  better: 'higher' | 'lower';
  /** Decimals in tables (default: fmt's choice). */
  decimals?: number;
}

export interface ContenderInfo {
  key: string;
  label: string;
  /** A short name for ratios and targets, e.g. `ours, Redis slots` or `BullMQ`. */
  short: string;
  /** task-semaphore, or a peer. */
  ours: boolean;
  /** The peer package it needs; a contender whose peer is not installed is skipped. */
  peer?: PeerName;
}

/** A ratio taken round by round: `ours` ÷ `peer` of `metric`, both measured in the same round. */
export interface RatioPair {
  ours: string;
  peer: string;
  metric: string;
}

/** A workload as planned and printed: no code that measures. */
export interface WorkloadInfo {
  key: WorkloadKey;
  /** e.g. `W1 drain-noop: 20,000 no-op tasks, concurrency 10`. */
  title: string;
  metrics: readonly MetricDef[];
  contenders: readonly ContenderInfo[];
  pairs: readonly RatioPair[];
  /** How each contender was set up (the peers' options), printed under the workload's table. */
  notes: readonly string[];
}

/** One contender measured once, in a process of its own. */
export interface Measurement {
  workload: WorkloadKey;
  contender: string;
  round: number;
  /** By metric key; absent when the measurement failed. */
  metrics: Record<string, number>;
  /** Text shown once per contender (from its last round): requests per task, what was set… */
  details?: string[];
  /** Why the measurement failed. */
  error?: string;
  /** Wall time of the child process, and the 1-minute load average before and after it. */
  seconds: number;
  load: [number, number];
}

/** What a contender's run returns to its child process. */
export interface Measured {
  metrics: Record<string, number>;
  details?: string[];
}
