/**
 * The faults, injected at random moments from a seeded generator, in three lanes that run side by
 * side: the processes (kill, stop, block), the store (restart, freeze; on a Redis Cluster, failover
 * and master-kill) and the backend code and remote callers (misbehaving polls and callbacks, polls
 * returning ids that run elsewhere, remote cancels). Within a lane faults come one after another,
 * in a random order; a scenario with faults of several lanes mixes them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Scenario } from '../scenarios.js';
import type { Canceller } from './canceller.js';
import { killPhases, misbehaviours, type MisbehavingCall } from './control.js';
import type { FaultName, HarnessEvent } from './events.js';
import type { Fleet } from './fleet.js';
import { monotonicNs, type JournalWriter } from './journal.js';
import type { Rng } from './rng.js';
import type { FaultStore } from './stores.js';
import type { TaskSource } from './task-source.js';

export interface FaultDeps {
  scenario: Scenario;
  fleet: Fleet;
  store: FaultStore;
  journal: JournalWriter<HarnessEvent>;
  /** For `cancel`: only a fleet of the synthetic source takes it. */
  canceller?: Canceller;
  /** Where a kill learns which workers run tasks; without it, any worker. */
  source?: TaskSource;
}

const lanes: Record<'process' | 'store' | 'backend', readonly FaultName[]> = {
  process: ['kill', 'stop', 'block'],
  store: ['restart', 'freeze', 'failover', 'master-kill'],
  backend: ['poll', 'callback', 'duplicate', 'cancel'],
};

/** How long an order to misbehave waits for its call; the backend lane waits it out after its last order. */
const orderLifeMs = 3000;

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
        if (Date.now() >= untilMs) {
          // An order still untaken lapses before the faults are declared over.
          if (lane === 'backend') await sleep(orderLifeMs);
          return;
        }
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
      // A worker that runs tasks if any does: with 3 tasks each, two workers can hold all 6 slots,
      // and a kill of the idle third would test nothing.
      const running = new Set(((await deps.source?.holders()) ?? []).filter((h) => h.held === 'run').map((h) => h.pid));
      const busy = fleet.pids().filter((p) => running.has(p));
      const pid = rng.pick(busy.length > 0 ? busy : fleet.pids());
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
    case 'poll':
    case 'callback': {
      const call: MisbehavingCall = fault === 'poll' ? 'poll' : rng.pick(['startCallback', 'stopCallback', 'rejectCallback'] as const);
      const { pollTimeoutMs, callbackTimeoutMs } = deps.scenario.timing;
      // A slow call settles past its limit, by up to a second.
      const ms = (call === 'poll' ? pollTimeoutMs : callbackTimeoutMs) + rng.int(100, 1000);
      fleet.order(rng.pick(fleet.pids()), {
        action: 'misbehave',
        call,
        how: rng.pick(misbehaviours),
        ms,
        before: monotonicNs() + orderLifeMs * 1e6,
      });
      return;
    }
    case 'duplicate':
      fleet.order(rng.pick(fleet.pids()), { action: 'duplicate', before: monotonicNs() + orderLifeMs * 1e6 });
      return;
    case 'cancel':
      if (!deps.canceller) throw new Error('the cancel fault needs a canceller: a fleet of the synthetic task source');
      return deps.canceller.cancelOne(rng);
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
function supported<A extends unknown[], R>(
  method: ((...args: A) => R) | undefined,
  fault: FaultName,
  store: FaultStore,
): (...args: A) => R {
  if (!method) throw new Error(`the ${store.kind} store does not take the fault ${fault}`);
  return method.bind(store);
}
