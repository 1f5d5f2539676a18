import type { RejectReason } from '../contracts/backend.js';
import type { EndedOccupancy, Occupancy, SlotId } from '../contracts/store.js';
import type { PassReport } from '../contracts/results.js';

/**
 * Events a Scheduler emits (`scheduler.on('task:stop', (ended) => …)`). A listener that throws
 * is logged and ignored. There is no `error` event, so no listener is ever required.
 */
export interface SchedulerEvents {
  /** A task's occupancy was saved and its `startCallback` is about to run. */
  'task:start': [occupancy: Occupancy];
  /** A task timed out (`reason` `timeout` or `max_runtime`); `task:stop` follows. */
  'task:timeout': [ended: EndedOccupancy];
  /** An occupancy ended and its callbacks ran in this process. */
  'task:stop': [ended: EndedOccupancy];
  /** A polled task id was not started; `reason` and `retryAfterMs` as in `RejectInfo`. */
  'task:reject': [info: { backend: string; taskId: string; slotId: SlotId; reason: RejectReason; retryAfterMs?: number }];
  /** A poll threw, hung past `pollTimeout` or returned a bad value; the pass went on. */
  'poll:error': [info: { backend: string; slotId: SlotId; error: Error }];
  /** A backend callback threw or hung; the scheduler went on. */
  'callback:error': [info: { backend: string; callback: string; taskId: string; error: Error }];
  /** A pass finished. */
  'pass:end': [report: PassReport];
  /** A refill round finished: slots kept by local stops were filled (or released) without a pass. */
  'refill:end': [report: PassReport];
  /** A pass this scheduler started itself (cron tick, freed slot, reap timer, requestPass, refill) failed, e.g. the store is down. */
  'pass:error': [error: Error];
}

/** Emits a scheduler event (the scheduler's `notify`, which never throws). */
export type Notify = <K extends keyof SchedulerEvents>(event: K, ...args: SchedulerEvents[K]) => void;
