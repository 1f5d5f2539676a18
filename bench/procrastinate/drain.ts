/** A drain as every contender reports it, and what it measures besides its clock. */
import { loadavg } from 'node:os';
import type pg from 'pg';
import type { Row } from '../harness/format.js';
import type { Services } from '../harness/services.js';
import { machineCpu, machineCpuSince, type MachineCpu } from '../harness/timing.js';
import type { ProcrastinateBenchOptions } from './options.js';

export interface Drain {
  contender: string;
  jobsPerSec: number;
  elapsedMs: number;
  /** e.g. `SQL 2.00 (fetch×1 finish×1), Redis 2.1 (…)`. */
  requests: string;
  loadBefore: number;
  loadAfter: number;
  /** CPU time of this process (user + system) during the drain. */
  cpuMs: number;
  /** Busy CPU time of the whole machine (every process: Node, PostgreSQL, Redis), and time stolen by the hypervisor; null off Linux. */
  machine: MachineCpu | null;
  /** Ours only: passes and refill rounds, jobs started per round, and mean request latencies. */
  profile?: Row;
}

/** A contender: a label for tables and a drain of `jobs` jobs. */
export interface Contender {
  key: string;
  label: string;
  drain(jobs: number): Promise<Drain>;
}

export const load1 = () => loadavg()[0]!;

/** What a drain measures besides its clock: this process's CPU, the machine's, and the load. */
export type Measured = Pick<Drain, 'cpuMs' | 'machine' | 'loadBefore' | 'loadAfter'>;

/** Starts measuring; the function returned stops and reads. */
export function measure(): () => Measured {
  const loadBefore = load1();
  const cpuBefore = process.cpuUsage();
  const machineBefore = machineCpu();
  return () => {
    const { user, system } = process.cpuUsage(cpuBefore);
    return { cpuMs: (user + system) / 1000, machine: machineCpuSince(machineBefore), loadBefore, loadAfter: load1() };
  };
}

/** What every contender is made from: the run's services, a pool for setup, and the options. */
export interface Setup {
  services: Services;
  /** Creates and drops the drains' schemas. */
  admin: pg.Pool;
  options: ProcrastinateBenchOptions;
}
