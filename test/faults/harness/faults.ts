/**
 * The faults, injected at random moments from a seeded generator, in two lanes that run side by
 * side: the processes (kill, stop, block) and the store (restart, freeze; on a Redis Cluster,
 * failover and master-kill). Within a lane faults come one after another, in a random order; a
 * scenario with faults of both lanes mixes them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Scenario } from '../scenarios.js';
import { killPhases } from './control.js';
import type { FaultName, HarnessEvent } from './events.js';
import type { Fleet } from './fleet.js';
import type { JournalWriter } from './journal.js';
import type { Rng } from './rng.js';
import type { FaultStore } from './stores.js';

export interface FaultDeps {
  scenario: Scenario;
  fleet: Fleet;
  store: FaultStore;
  journal: JournalWriter<HarnessEvent>;
}

const lanes: Record<'process' | 'store', readonly FaultName[]> = { process: ['kill', 'stop', 'block'], store: ['restart', 'freeze', 'failover', 'master-kill'] };

/** Injects the scenario's faults until `untilMs` (Date.now()), then waits for the last one to end. */
export async function injectFaults(deps: FaultDeps, rng: Rng, untilMs: number): Promise<void> {
  await Promise.all(
    (Object.keys(lanes) as Array<keyof typeof lanes>).map(async (lane) => {
      const faults = deps.scenario.faults.filter((f) => lanes[lane].includes(f));
      if (faults.length === 0) return;
      const laneRng = rng.fork(lane);
      const [minGap, maxGap] = deps.scenario.gapsMs[lane];
      // A shuffled deck, dealt again when empty: even a short run injects each of its faults.
      const deck: FaultName[] = [];
      for (;;) {
        await sleep(laneRng.int(minGap, maxGap));
        if (Date.now() >= untilMs) return;
        if (deck.length === 0) deck.push(...laneRng.shuffle(faults));
        await inject(deck.pop()!, deps, laneRng);
      }
    }),
  );
}

/** A stall longer than any lease (so the slots change hands), or now and then a short one (so they must not). */
function stallMs(deps: FaultDeps, rng: Rng): number {
  const { timeoutMs, processLeaseMs } = deps.scenario.timing;
  const longest = Math.max(timeoutMs, processLeaseMs);
  return rng.chance(0.25) ? rng.int(100, processLeaseMs / 2) : rng.int(longest + 500, 2 * longest + 500);
}

async function inject(fault: FaultName, deps: FaultDeps, rng: Rng): Promise<void> {
  const { fleet, store, journal } = deps;
  switch (fault) {
    case 'kill': {
      // Now (at whatever the process is doing: mostly mid-task), or armed at a phase it reaches soon.
      const pid = rng.pick(fleet.pids());
      const phase = rng.pick(['now', ...killPhases] as const);
      if (phase === 'now') fleet.kill(pid);
      else await fleet.armKill(pid, phase, 2000);
      return;
    }
    case 'stop':
      return fleet.stop(rng.pick(fleet.pids()), stallMs(deps, rng));
    case 'block': {
      const ms = stallMs(deps, rng);
      fleet.block(rng.pick(fleet.pids()), ms);
      // The block begins at the worker's next task step (within a second): wait it out.
      await sleep(ms + 1000);
      return;
    }
    case 'restart': {
      journal.write({ ev: 'fault', fault: 'restart-begin', target: 'store', stateLoss: store.restartLosesState });
      const { mode } = await supported(store.restart, fault, store)(rng, rng.int(200, 1500));
      journal.write({ ev: 'fault', fault: 'restart-end', target: 'store', mode });
      return;
    }
    case 'freeze': {
      const ms = stallMs(deps, rng);
      supported(store.freeze, fault, store)();
      journal.write({ ev: 'fault', fault: 'freeze', target: 'store', ms });
      await sleep(ms);
      journal.write({ ev: 'fault', fault: 'thaw', target: 'store' });
      supported(store.thaw, fault, store)();
      return;
    }
    case 'failover': {
      // The replica catches up before it takes over: no acknowledged write is lost.
      journal.write({ ev: 'fault', fault: 'failover-begin', target: 'store', stateLoss: false });
      const { mode } = await supported(store.failover, fault, store)();
      journal.write({ ev: 'fault', fault: 'failover-end', target: 'store', mode });
      return;
    }
    case 'master-kill': {
      // Replication is asynchronous: the writes the master had not yet sent its replica are lost.
      journal.write({ ev: 'fault', fault: 'master-kill-begin', target: 'store', stateLoss: true });
      const { mode } = await supported(store.killMaster, fault, store)();
      journal.write({ ev: 'fault', fault: 'master-kill-end', target: 'store', mode });
      await supported(store.heal, fault, store)();
      return;
    }
  }
}

/** The store's method for `fault`, bound to it; throws when the store does not take that fault. */
function supported<A extends unknown[], R>(method: ((...args: A) => R) | undefined, fault: FaultName, store: FaultStore): (...args: A) => R {
  if (!method) throw new Error(`the ${store.kind} store does not take the fault ${fault}`);
  return method.bind(store);
}
