/**
 * Health by progress, not by "the process answers": a scheduler is healthy while its passes
 * succeed, its stores answer, its event subscriptions listen and no occupancy stays overdue (one
 * a pass should have reaped). A scheduler wedged after a store outage reports unhealthy until it
 * makes progress again; `/healthz` is what an orchestrator restarts on, `/readyz` what it sends
 * work to.
 */
import { settlesWithin } from '../core/call.js';
import type { InspectedSlot, Scheduler } from '../scheduler/scheduler.js';
import { expiryOf } from '../contracts/store.js';

/** How long a store may take to answer a health check's read before it counts as unreachable. */
export const storeCheckTimeoutMs = 2000;

/** The staleness bound when none is given: three ticks of the cron, at least 30 s. */
export function defaultStaleAfterMs(cronPeriodMs: number | null): number {
  return Math.max(30_000, 3 * (cronPeriodMs ?? 60_000));
}

export interface HealthReport {
  /** No problem: `/healthz` answers 200, else 503. */
  healthy: boolean;
  /** Healthy, loaded and not shutting down: `/readyz` answers 200, else 503. */
  ready: boolean;
  /** What is wrong, one sentence each; empty when healthy and ready. */
  problems: string[];
  scheduler: { name: string; owner: string; loaded: boolean; closing: boolean; localTasks: number };
  passes: {
    /** When the last pass succeeded (ISO), or null if none has since this check began watching. */
    lastSuccessAt: string | null;
    /** Since then (or since watching began), ms. */
    sinceSuccessMs: number;
    /** Past this without a successful pass, the scheduler counts as wedged. */
    staleAfterMs: number;
    lastError: { at: string; message: string } | null;
  };
  stores: {
    /** A read of every store answered within 2 s. */
    reachable: boolean;
    roundTripMs: number | null;
    error: string | null;
    /** Each store's events subscription: null where it has none. */
    listening: Array<{ slotClass: string; listening: boolean | null }>;
  };
  /** Occupancies past their deadline by more than `staleAfterMs`: the passes are not reaping. */
  overdue: number;
}

/** Watches a scheduler's passes from now on, and checks its health on demand. */
export class HealthMonitor {
  private readonly watchingSince = Date.now();
  private lastSuccess: number | null = null;
  private lastError: { at: number; message: string } | null = null;
  private readonly onPass = () => void (this.lastSuccess = Date.now());
  private readonly onError = (error: Error) => void (this.lastError = { at: Date.now(), message: error.message });

  /** @param staleAfterMs - undefined: {@link defaultStaleAfterMs} of the scheduler's cron */
  constructor(
    private readonly scheduler: Scheduler,
    private readonly staleAfterMs?: number,
  ) {
    scheduler.on('pass:end', this.onPass);
    scheduler.on('pass:error', this.onError);
  }

  /** Stops watching the scheduler's events. */
  close(): void {
    this.scheduler.off('pass:end', this.onPass);
    this.scheduler.off('pass:error', this.onError);
  }

  /** @param inspecting - a read of the slots already under way (the board's), to judge rather than read them again */
  async check(inspecting: Promise<InspectedSlot[]> = this.scheduler.inspect()): Promise<HealthReport> {
    const status = this.scheduler.status();
    const now = Date.now();
    const staleAfterMs = this.staleAfterMs ?? defaultStaleAfterMs(status.cronPeriodMs);
    const problems: string[] = [];

    const sinceSuccessMs = now - (this.lastSuccess ?? this.watchingSince);
    // Passes run only once the scheduler runs its cron; a loaded scheduler without one is not wedged.
    const passesExpected = status.loaded && status.cronPeriodMs !== null;
    if (passesExpected && sinceSuccessMs > staleAfterMs) {
      const last = this.lastError ? `; last error: ${this.lastError.message}` : '';
      problems.push(`no successful pass for ${Math.round(sinceSuccessMs / 1000)} s (allowed: ${Math.round(staleAfterMs / 1000)} s)${last}`);
    }

    const read = await this.readStores(inspecting);
    if (read.error !== null) problems.push(`stores unreachable: ${read.error}`);
    for (const store of status.stores) {
      if (store.listening === false) problems.push(`the ${store.slotClass} store's events subscription is not listening`);
    }
    const overdue = read.overdueSince.filter((since) => now - since > staleAfterMs).length;
    if (overdue > 0)
      problems.push(`${overdue} occupancies overdue for more than ${Math.round(staleAfterMs / 1000)} s: passes are not reaping`);

    const healthy = problems.length === 0;
    if (!status.loaded) problems.push('no config loaded');
    if (status.closing) problems.push('shutting down');
    return {
      healthy,
      ready: healthy && status.loaded && !status.closing,
      problems,
      scheduler: {
        name: this.scheduler.name,
        owner: this.scheduler.owner,
        loaded: status.loaded,
        closing: status.closing,
        localTasks: status.localTasks,
      },
      passes: {
        lastSuccessAt: this.lastSuccess === null ? null : new Date(this.lastSuccess).toISOString(),
        sinceSuccessMs,
        staleAfterMs,
        lastError: this.lastError && { at: new Date(this.lastError.at).toISOString(), message: this.lastError.message },
      },
      stores: {
        reachable: read.error === null,
        roundTripMs: read.roundTripMs,
        error: read.error,
        listening: status.stores.map(({ slotClass, listening }) => ({ slotClass, listening })),
      },
      overdue,
    };
  }

  /** The read of every store, bounded: when each overdue occupancy's expiry passed (this host's clock). */
  private async readStores(
    inspecting: Promise<InspectedSlot[]>,
  ): Promise<{ roundTripMs: number | null; error: string | null; overdueSince: number[] }> {
    const began = performance.now();
    if (!(await settlesWithin(inspecting, storeCheckTimeoutMs))) {
      return { roundTripMs: null, error: `no answer within ${storeCheckTimeoutMs} ms`, overdueSince: [] };
    }
    try {
      const slots = await inspecting;
      const overdueSince = slots.flatMap((slot) => (slot.overdue && slot.occupancy ? [expiryOf(slot.occupancy)] : []));
      return { roundTripMs: Math.round(performance.now() - began), error: null, overdueSince };
    } catch (error) {
      return { roundTripMs: null, error: error instanceof Error ? error.message : String(error), overdueSince: [] };
    }
  }
}
