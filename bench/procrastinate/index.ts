/**
 * Procrastinate: draining pre-deferred no-op jobs, and the latency from defer to handler start.
 *
 * Every drain gets a fresh PostgreSQL schema holding the Procrastinate schema, N no-op jobs
 * deferred in one statement (queue.ts), and drains it with one contender (contenders/): the SQL
 * loops a Python worker's statements make (the ceiling, prepared, batched), the slot-bounded SQL
 * lockstep, the lockstep plus each slot store, our Scheduler with a ProcrastinateBackend on Redis
 * and PostgreSQL slots, and graphile-worker in three settings. The latency (latency.ts) is
 * measured first; then each round drains once with every selected contender. table.ts builds the
 * result rows; targets.ts judges ours against the ceiling and graphile-worker of the same run.
 */
import type { Row } from '../harness/format.js';
import type { Services } from '../harness/services.js';
import { graphileContenders } from './contenders/graphile.js';
import { oursContenders } from './contenders/ours.js';
import { sqlLockstepContender } from './contenders/sql-lockstep.js';
import { sqlLoopContenders } from './contenders/sql-loop.js';
import { sqlSlotsContenders } from './contenders/sql-slots.js';
import type { Contender, Drain } from './drain.js';
import { latencyRun } from './latency.js';
import type { ProcrastinateBenchOptions, ProcrastinateBenchResult } from './options.js';
import { drainRows, mediansOf, profileRows } from './table.js';

export type { ProcrastinateBenchOptions, ProcrastinateBenchResult } from './options.js';

export async function procrastinateBench(services: Services, options: ProcrastinateBenchOptions): Promise<ProcrastinateBenchResult> {
  const admin = await services.postgres(2);
  const setup = { services, admin, options };
  const graphile = graphileContenders(setup);
  const contenders: Contender[] = [
    ...sqlLoopContenders(setup),
    sqlLockstepContender(setup),
    ...sqlSlotsContenders(setup),
    ...oursContenders(setup),
    ...graphile.contenders,
  ];
  const selected = contenders.filter((c) => !options.only || options.only.includes(c.key));

  // Latency first, on a machine not yet warmed by the drains (their WAL and dead rows, the load).
  const latency: Row[] = [];
  if (!options.only || options.only.includes('latency')) latency.push(await latencyRun(services, admin, options));

  const runs = await drainRounds(selected, options);
  return {
    drains: drainRows(selected, runs, options.jobs),
    profiles: profileRows(runs),
    latency,
    notes: graphile.notes,
    medians: mediansOf(runs),
  };
}

/** Every round drains once with each contender; the drains of each, by key. */
async function drainRounds(selected: readonly Contender[], options: ProcrastinateBenchOptions): Promise<Map<string, Drain[]>> {
  const runs = new Map<string, Drain[]>(selected.map((c) => [c.key, []]));
  for (let round = 0; round < options.rounds; round++) {
    // Each round starts one contender later, so that none always runs right after the same other
    // (whose WAL, dead rows and checkpoints it would inherit) or always first on a cool machine.
    const order = selected.map((_, i) => selected[(i + round) % selected.length]!);
    for (const contender of order) {
      // JIT, connections and server caches warm before the first measured drain of each contender.
      if (round === 0 && options.warmupJobs > 0) await contender.drain(Math.min(options.jobs, options.warmupJobs));
      runs.get(contender.key)!.push(await contender.drain(options.jobs));
    }
  }
  return runs;
}
