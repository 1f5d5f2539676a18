/**
 * Backend calls that misbehave on the harness's order (harness/control.ts): the worker takes the
 * order at its next call of that kind, journals it, and wraps the call's real work so that it
 * settles late, never, only on its signal, or by throwing. The work itself still happens (a claim
 * taken over or given back, a task queued again): a backend that lost its tasks would prove
 * nothing about the scheduler.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Misbehaviour, MisbehavingCall } from './control.js';
import type { WorkerEvent } from './events.js';
import { monotonicNs, type JournalWriter } from './journal.js';

/** What the misbehaving call is about, for the journal. */
export interface CallAbout {
  slotId: string;
  taskId: string | null;
  token: number | null;
}

export interface Order {
  how: Misbehaviour;
  /** For `slow`: how long the call takes, past its time limit. */
  ms: number;
  /** The order lapses at this monotonic time (ns), untaken. */
  before: number;
}

/** A promise that never settles: a call that hangs. */
export const never = (): Promise<never> => new Promise<never>(() => {});

/** Resolves once `onAbort` calls back (a poll's signal, a task's `onAbort`). */
export const abortOf = (onAbort: (listener: () => void) => unknown): Promise<void> =>
  new Promise<void>((resolve) => void onAbort(() => resolve()));

/** The error a misbehaving call throws, recognisable in the scheduler's `callback:error` and `poll:error`. */
export class InjectedError extends Error {
  constructor(call: MisbehavingCall, how: Misbehaviour) {
    super(`injected: ${call} ${how === 'throw' ? 'throws' : 'rejects'}`);
  }
}

export class Misbehaviours {
  private readonly orders = new Map<MisbehavingCall, Order>();

  constructor(private readonly journal: JournalWriter<WorkerEvent>) {}

  /** Keeps the order for the next `call` (a later order for the same call replaces it). */
  order(call: MisbehavingCall, order: Order): void {
    this.orders.set(call, order);
  }

  /** The order for this `call`, taken and journaled, if any. */
  take(call: MisbehavingCall, about: CallAbout): Order | undefined {
    const order = this.orders.get(call);
    if (!order) return undefined;
    this.orders.delete(call);
    if (monotonicNs() >= order.before) return undefined;
    this.journal.write({ ev: 'misbehave', call, how: order.how, ...about });
    return order;
  }
}

/**
 * Runs `work` as the misbehaving call `call` (a stop or reject callback): late (`slow`), never
 * settling once done (`hang`, `hang-signal`: these calls have no signal), throwing at once
 * (`throw`: the work goes on behind), or rejecting once it is done (`reject`).
 */
export function misbehaveAround(call: MisbehavingCall, order: Order | undefined, work: () => Promise<void>): Promise<void> {
  if (!order) return work();
  switch (order.how) {
    case 'slow':
      return sleep(order.ms).then(work);
    case 'hang':
    case 'hang-signal':
      return work().then(never);
    case 'throw':
      void work();
      throw new InjectedError(call, order.how);
    case 'reject':
      return work().then(() => Promise.reject(new InjectedError(call, order.how)));
  }
}
