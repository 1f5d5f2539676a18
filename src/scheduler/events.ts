import type { RejectReason } from '../contracts/backend.js';
import type { EndedOccupancy, Occupancy, SlotId } from '../contracts/store.js';
import type { PassReport } from '../contracts/results.js';
import type { PollEnd } from './pass-poller.js';
import type { StoreCall } from './timed-store.js';
import type { ShutdownReport, ShutdownTask } from './shutdown-report.js';

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
  /**
   * A backend's `poll` or `pollBatch` answered, in `durationMs`, with `found` task ids (0: it had
   * nothing). A poll that fails emits `poll:error` instead.
   */
  'poll:end': [info: PollEnd];
  /** A poll threw, hung past `pollTimeout` or returned a bad value; the pass went on. */
  'poll:error': [info: { backend: string; slotId: SlotId; error: Error }];
  /** A backend callback threw or hung; the scheduler went on. */
  'callback:error': [info: { backend: string; callback: string; taskId: string; error: Error }];
  /**
   * A call to one of the stores this scheduler opened settled (one round trip, but for `init`
   * and `history`), with `error` when it failed. Calls are timed only while this event has a
   * listener.
   */
  'store:call': [call: StoreCall];
  /** A pass finished. */
  'pass:end': [report: PassReport];
  /** A refill round finished: slots kept by local stops were filled (or released) without a pass. */
  'refill:end': [report: PassReport];
  /** A pass this scheduler started itself (cron tick, freed slot, reap timer, requestPass, refill) failed, e.g. the store is down. */
  'pass:error': [error: Error];
  /**
   * `shutdown()` began: nothing more is claimed, and the tasks running in this process (`running`)
   * have `gracefulMs` to stop on their own; `remote` ones are left running in the store.
   */
  'shutdown:begin': [info: { running: ShutdownTask[]; remote: ShutdownTask[]; gracefulMs: number; finalMs: number }];
  /** The graceful wait ended (its deadline, or a second `shutdown()`): these tasks' signals fired, cause `shutdown`. */
  'shutdown:abort': [info: { tasks: ShutdownTask[]; finalMs: number }];
  /** The final deadline passed: these tasks, still running, are being ended `dropped`. */
  'shutdown:drop': [info: { tasks: ShutdownTask[] }];
  /** The shutdown ended: the backends and stores are closed (see `errors`). */
  'shutdown:end': [report: ShutdownReport];
}

/** Emits a scheduler event (the scheduler's `notify`, which never throws). */
export type Notify = <K extends keyof SchedulerEvents>(event: K, ...args: SchedulerEvents[K]) => void;
