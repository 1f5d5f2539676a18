import type { EndedOccupancy, EndReason, LostReason, Occupancy, SlotId } from './store.js';

/**
 * Why `keepalive`, `stop` or `cancel` could not act on a task. The task should stop working: it
 * no longer holds a slot (or never did).
 * - `unknown`: no slot holds it (under the token given, if any), and no record of that
 *   occupancy's end is kept. For a task running in this process, the store lost its state: the
 *   task's signal fires (cause `lost`) and its `stopCallback` runs here, once, with reason `lost`;
 * - `timed_out`: it passed its deadline or max runtime (`endReason` says which);
 * - `ended`: it ended otherwise (`endReason`: stopped, cancelled, start_failed, backend_removed).
 */
export interface LostOutcome {
  ok: false;
  taskId: string;
  reason: LostReason;
  slotId?: SlotId;
  token?: number;
  endReason?: EndReason;
}

/** `keepalive` renewed the occupancy: its new deadline, and whether a cancel was requested. */
export type KeepaliveOutcome = ({ ok: true } & Occupancy) | LostOutcome;

/** `stop` ended the occupancy. `delivered` is false when the callbacks were left to a process that has the backend. */
export type StopOutcomeResult = ({ ok: true; delivered: boolean } & EndedOccupancy) | LostOutcome;

/** `cancel` flagged the occupancy; `alreadyRequested` if an earlier cancel had. */
export type CancelOutcome = ({ ok: true; alreadyRequested: boolean } & Occupancy) | LostOutcome;

/** Options of `stop`. */
export interface StopOptions {
  /** Act only on this occupancy of the task (its fencing token). */
  token?: number;
  /** What became of the task, e.g. `succeeded` or `failed`; `cancelled` ends it with reason `cancelled`. */
  status?: string;
  /** An error message to hand to `stopCallback`. */
  error?: string | Error;
}

/**
 * What `acquire` got: the occupancy of the slot the task now holds; or `busy` (no slot was free,
 * and the call did not wait, or its wait ran out); or `duplicate` (the task id holds a slot, or
 * waits for one, elsewhere: `slotId` null for a wait; `expiresAt` is when that holder lapses
 * unless renewed, store-clock ms).
 */
export type AcquireOutcome =
  | ({ ok: true } & Occupancy)
  | { ok: false; reason: 'busy'; taskId: string }
  | { ok: false; reason: 'duplicate'; taskId: string; slotId: SlotId | null; expiresAt: number };

/** What `run` hands its function: the slot the task holds, and the signal to stop on. */
export interface RunContext {
  taskId: string;
  slotId: SlotId;
  token: number;
  /** Fires when the task must stop: a cancel, its slot lost or past its max runtime, a shutdown. */
  readonly signal: AbortSignal;
}

/** What one `schedule()` pass did. */
export interface PassReport {
  /** Tasks started. */
  started: number;
  /** Occupancies ended by this pass (timeouts, backend removals), outbox entries and lapsed deliveries delivered. */
  ended: number;
  /** Reservations taken and released unused. */
  released: number;
  /** Backend poll calls made. */
  polls: number;
  durationMs: number;
}
