/** Every workload of `compare`, by key. */
import type { WorkloadKey } from '../model.js';
import type { WorkloadSpec } from '../workload.js';
import { w1 } from './w1-drain.js';
import { w2 } from './w2-timed.js';
import { w3 } from './w3-latency.js';
import { w4 } from './w4-global.js';
import { w5 } from './w5-semaphore.js';
import { w6 } from './w6-pass.js';
import { w7 } from './w7-fan-in.js';

export const workloads: Record<WorkloadKey, WorkloadSpec> = { W1: w1, W2: w2, W3: w3, W4: w4, W5: w5, W6: w6, W7: w7 };
