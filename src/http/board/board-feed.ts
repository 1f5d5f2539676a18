/**
 * What the board shows, as one snapshot: every slot of the scheduler name read from the store
 * (all hosts), a summary, health, this process's recent events and the recent history. One
 * snapshot is built at a time and shared by every page asking within `freshMs`, so the store is
 * read at the same rate whether one page watches or twenty.
 */
import { settlesWithin } from '../../core/call.js';
import { SchedulerStateError } from '../../core/errors.js';
import type { HistoryRecord } from '../../contracts/history.js';
import type { Scheduler } from '../../scheduler/scheduler.js';
import { servedSlotStatus, type SlotStatus } from '../../views/slot-status.js';
import type { HealthMonitor } from '../health.js';
import { RecentEvents, type BoardEvent } from './recent-events.js';

/** What the board calls a slot's state; `draining`: in the store but no longer configured. */
export type BoardSlotState = 'idle' | 'reserved' | 'running' | 'overdue' | 'draining';

export interface BoardSlot extends SlotStatus {
  state: BoardSlotState;
}

export interface BoardSnapshot {
  /** When it was read, by this host's clock: store times (`startedAt`, …) are compared with it. */
  at: number;
  scheduler: { name: string; owner: string };
  /** `busy`: slots holding a task (`running`, overdue and draining ones included). */
  summary: { total: number; busy: number } & Record<BoardSlotState, number>;
  health: { healthy: boolean; ready: boolean; problems: string[] };
  slots: BoardSlot[];
  /** This process's recent events, oldest first. */
  events: BoardEvent[];
  /** The newest records, or why there are none (the option `history` is off). */
  history: { records: HistoryRecord[]; error: null } | { records: null; error: string };
}

/** How many history records the board shows. */
export const boardHistoryLimit = 20;
/** A snapshot younger than this is served again rather than read anew. */
export const freshMs = 200;
/** A snapshot the stores take longer than this to give is reported as a problem. */
export const snapshotTimeoutMs = 5000;

/**
 * The state the board shows: overdue first (it needs attention wherever it is), then draining,
 * then the store's status. board.js applies the same rule to `/slots` when it polls.
 */
export function boardSlotState(slot: SlotStatus): BoardSlotState {
  if (slot.overdue) return 'overdue';
  if (slot.configured === false) return 'draining';
  return slot.status;
}

export class BoardFeed {
  readonly events: RecentEvents;
  private building: Promise<string> | undefined;
  private last: { json: string; builtAt: number } | undefined;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly health: HealthMonitor,
  ) {
    this.events = new RecentEvents(scheduler);
  }

  /**
   * A snapshot as JSON, no older than {@link freshMs}.
   * @throws Error when the stores do not answer within {@link snapshotTimeoutMs}, or the read fails
   */
  async snapshot(): Promise<string> {
    if (this.last && performance.now() - this.last.builtAt < freshMs) return this.last.json;
    if (!this.building) {
      const building = this.build().then((json) => {
        this.last = { json, builtAt: performance.now() };
        return json;
      });
      this.building = building;
      // Whatever its outcome, the next caller after this one starts a new read.
      void building.finally(() => (this.building = undefined)).catch(() => {});
    }
    const building = this.building;
    if (!(await settlesWithin(building, snapshotTimeoutMs))) {
      throw new Error(`the stores did not answer within ${snapshotTimeoutMs / 1000} s`);
    }
    return building;
  }

  close(): void {
    this.events.close();
  }

  private async build(): Promise<string> {
    // One read of the slots, which health judges too.
    const inspecting = this.scheduler.inspect();
    const [inspected, report, history] = await Promise.all([inspecting, this.health.check(inspecting), this.readHistory()]);
    const at = Date.now();
    const slots = inspected.map((slot) => {
      const status = servedSlotStatus(slot, at);
      return { ...status, state: boardSlotState(status) };
    });
    const summary = { total: slots.length, busy: 0, idle: 0, reserved: 0, running: 0, overdue: 0, draining: 0 };
    for (const slot of slots) {
      summary[slot.state]++;
      if (slot.status === 'running') summary.busy++;
    }
    const snapshot: BoardSnapshot = {
      at,
      scheduler: { name: this.scheduler.name, owner: this.scheduler.owner },
      summary,
      health: { healthy: report.healthy, ready: report.ready, problems: report.problems },
      slots,
      events: this.events.list(),
      history,
    };
    return JSON.stringify(snapshot);
  }

  private async readHistory(): Promise<BoardSnapshot['history']> {
    try {
      return { records: await this.scheduler.history({ limit: boardHistoryLimit }), error: null };
    } catch (error) {
      // The option `history` off is a state the board shows, not a failure of the snapshot.
      if (error instanceof SchedulerStateError) return { records: null, error: error.message };
      throw error;
    }
  }
}
