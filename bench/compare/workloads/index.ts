/** Every workload of `compare`, by key. */
import type { WorkloadKey } from '../model.js';
import type { WorkloadSpec } from '../workload.js';
import { w1 } from './w1-drain.js';
import { w4 } from './w4-global.js';
import { w5 } from './w5-semaphore.js';

/** W2, W3, W6 and W7 are still to come. */
export const workloads: Partial<Record<WorkloadKey, WorkloadSpec>> = { W1: w1, W4: w4, W5: w5 };
