/** What `scheduler.shutdown()` reports, and its events carry. */
import type { SlotId } from '../contracts/store.js';

/** A task a shutdown met: one occupancy, by task id and fencing token. */
export interface ShutdownTask {
  taskId: string;
  token: number;
  slotId: SlotId;
  backend: string;
}

/** A task still running at the final deadline, given up by the shutdown. */
export interface DroppedTask extends ShutdownTask {
  /**
   * True when the store ended the occupancy with reason `dropped` (its slot free for the fleet, its
   * `stopCallback` run here). False when it could not: the store did not answer in time (the slot
   * then frees once the task's process lease lapses, and a pass elsewhere ends it as a `timeout`),
   * or the occupancy had already ended another way.
   */
  recorded: boolean;
}

/**
 * What `shutdown()` did with the tasks running in this process (those of backends that
 * `runsInProcess`), each listed once: every task running here when it began, or started by the
 * pass then under way.
 */
export interface ShutdownReport {
  /** Stopped before the graceful deadline, without the shutdown's abort (stopped, cancelled, timed out...). */
  finished: ShutdownTask[];
  /** Told to stop (signal cause `shutdown`), and stopped before the final deadline. */
  aborted: ShutdownTask[];
  /** Still running at the final deadline: ended `dropped`. Their work may be half done. */
  dropped: DroppedTask[];
  /**
   * Tasks this scheduler started whose backend runs them elsewhere (not `runsInProcess`), as far
   * as this process knows: left running in the store, where any process may still keep them
   * alive and stop them. The shutdown neither waits for them nor aborts them.
   */
  remote: ShutdownTask[];
  /**
   * What went wrong while closing: a backend's or store's `close()` that failed, or that did not
   * settle within the close phase's bound (`callbackTimeout`). Empty after a clean close.
   */
  errors: Error[];
  /** From the first `shutdown()` call to the end of the close. */
  durationMs: number;
}
