/** Every workload of `compare`, by key. */
import type { WorkloadKey } from '../model.js';
import type { WorkloadSpec } from '../workload.js';
import { w1 } from './w1-drain.js';
import { w5 } from './w5-semaphore.js';

/** W2–W4, W6 and W7 are still to come. */
export const workloads: Partial<Record<WorkloadKey, WorkloadSpec>> = { W1: w1, W5: w5 };
