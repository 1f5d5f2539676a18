/** What the Procrastinate benchmark takes, and what it returns. */
import type { Row } from '../harness/format.js';

export interface ProcrastinateBenchOptions {
  /** Jobs per drain. */
  jobs: number;
  /** Slots of our Scheduler, connections of the SQL loops, concurrency of graphile-worker. */
  slots: number;
  /** Connections of our backend's pool. */
  poolSize: number;
  /** Jobs per statement of the batched SQL loop. */
  sqlBatch: number;
  /** Jobs deferred one at a time for the latency. */
  latencyJobs: number;
  /** Each round drains once with every contender; medians are over rounds. */
  rounds: number;
  /** Jobs of the unmeasured warm-up drain of each contender (0: none). */
  warmupJobs: number;
  /** Contenders to run (default all): sql, sql-prepared, sql-batch, sql-lockstep, sql-redis-slots, sql-pg-slots, redis, postgres, graphile, graphile-lq, graphile-lq-batch, latency. */
  only: readonly string[] | undefined;
}

export interface ProcrastinateBenchResult {
  drains: Row[];
  /** Where our drains spend their time (last round). */
  profiles: Row[];
  latency: Row[];
  notes: string[];
  /** Medians by contender, for the summary. */
  medians: Map<string, number>;
}
