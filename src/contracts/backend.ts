import type { EndedOccupancy, Occupancy, SlotId } from './store.js';
import type { Logger } from '../core/logger.js';
import type { KeepaliveOutcome, StopOptions, StopOutcomeResult } from './results.js';

/** A value or a promise of it: every backend method may be synchronous or async. */
export type Awaitable<T> = T | Promise<T>;

/** What `poll` gets. */
export interface PollContext {
  /** The slot reserved for the task poll returns. */
  slotId: SlotId;
  /** Name the backend was registered under. */
  backend: string;
  /** Fires when the poll's time limit (`pollTimeout`) passes; the result is then ignored. */
  signal: AbortSignal;
}

/** What `startCallback` gets besides the task id: the occupancy, and handles on it. */
export interface TaskContext {
  taskId: string;
  slotId: SlotId;
  /** Fencing token of this occupancy; pass it to `keepalive`/`stop` from elsewhere to act only on it. */
  token: number;
  backend: string;
  startedAt: number;
  /** When the task times out unless a keepalive arrives first (store-clock ms). */
  deadline: number;
  /** When the task's runtime cap ends, or null without one. */
  maxDeadline: number | null;
  /**
   * Fires when the task should stop: a cancel was requested, it timed out, it lost its slot (to a
   * partition, a stall or a store that lost its state), its backend was removed, its start
   * failed, or (for a backend that `runsInProcess`) the scheduler's `shutdown()` gave up waiting
   * for it. `signal.reason` is a TaskAbortedError (`ERR_TASK_ABORTED`) whose `abortCause` says
   * which. Reading `signal.aborted` checks the task's lease first.
   */
  signal: AbortSignal;
  /**
   * Calls `listener` once, with the reason `signal` carries, when the task should stop (at once,
   * before returning, if it already should). Returns a function that removes the listener. Same
   * news as `signal`, without making an AbortSignal: cheaper for a backend that runs many short
   * tasks.
   */
  onAbort(listener: (reason: Error) => void): () => void;
  /** `scheduler.keepalive(taskId, { token })`. */
  keepalive(): Promise<KeepaliveOutcome>;
  /** `scheduler.stop(taskId, { token, ...options })`. */
  stop(options?: Omit<StopOptions, 'token'>): Promise<StopOutcomeResult>;
  /**
   * True when a `stop()` called now, in the same synchronous step, would keep the slot for this
   * scheduler to refill, so that no other process can take it first; false when the stop would
   * free it to the fleet (over `maxLocalTasks`, while closing, a slot the config dropped). A
   * backend whose record of the task must be written before the slot is anyone else's (as
   * Procrastinate's `doing` rows, which must never outnumber the slots) writes first when false.
   */
  stopKeepsSlot(): boolean;
}

/** What `open` gets: the backend's name and handles on its scheduler. */
export interface BackendContext {
  /** Name the backend was registered under. */
  name: string;
  /** The scheduler's name. */
  scheduler: string;
  /** Asks for a `schedule()` pass soon (passes coalesce): e.g. when a notification says work arrived. */
  requestPass(): void;
  /** The scheduler's logger, with `backend` set. */
  logger: Logger;
}

/** What `stopCallback` gets: the ended occupancy, with its `reason`, `status` and `error`. */
export type StopOutcome = EndedOccupancy;

/** What `timeoutCallback` gets: the ended occupancy, whose `reason` is `timeout` or `max_runtime`. */
export type TimeoutInfo = EndedOccupancy & { reason: 'timeout' | 'max_runtime' };

/** Why a task id that `poll` returned was not started. */
export type RejectReason =
  /** The task id already occupies another slot: it may run once that occupancy ends. */
  | 'duplicate'
  /** The slot's reservation lapsed before the start was recorded. */
  | 'reservation_lost'
  /** A batch poll returned more ids than slots could take. */
  | 'unused'
  /** The id breaks the task-id grammar (see `checkTaskId`): no store will ever take it. */
  | 'invalid_id'
  /** The store failed (threw) while starting it: whether it started is unknown to this process. */
  | 'store_error'
  /** Its occupancy lapsed before `startCallback` could run (the process stalled): never started. */
  | 'lapsed';

/** Why a task id that `poll` returned was not started, and when asking again may succeed. */
export interface RejectInfo {
  reason: RejectReason;
  slotId: SlotId;
  /**
   * How long, in milliseconds, until the cause may have cleared: for `duplicate`, until the
   * occupancy that holds the id can end (its deadline, by the store's clock); 0 when the task may
   * be offered again at once; absent when retrying cannot help (`invalid_id`). A backend that
   * claims tasks should make the task available again no sooner, so that a rejected task is never
   * handed back and claimed again in a tight loop.
   */
  retryAfterMs?: number;
}

/**
 * A source of tasks for slots: the one class users subclass. The scheduler builds or receives one
 * instance per registered name and shares it among the slots that list that name.
 *
 * What it leaves out: how tasks run. `startCallback` launches a task and returns; the task reports
 * back with `keepalive(taskId)` and `stop(taskId)`, from this process or any other.
 */
export abstract class Backend {
  /**
   * Returns the id of the next task to run, or null/undefined/'' when there is none (the slot then
   * tries its next backend). Called only after the slot is reserved in its store, so a poll that
   * claims the task (e.g. marks it taken in a database) never claims for a slot that isn't held
   * (but see {@link Backend.claimsTasks}). Return a string: any other value is an error, and an id
   * outside the task-id grammar (`checkTaskId`) comes back through `rejectCallback`
   * (`invalid_id`). A poll that found nothing is not called again in the same `schedule()` pass.
   */
  abstract poll(context: PollContext): Awaitable<string | null | undefined>;

  /**
   * True for a backend whose poll claims the task it returns (so it never returns one task twice,
   * with or without `stopCallback`) and takes it back in `rejectCallback`. When a task stops in
   * the process that serves its slot, and the slot lists this backend first, the scheduler then
   * polls for the slot before the stop's end is sent: a poll that answers within that turn of
   * the event loop or the next (an in-memory queue, a Redis LPOP) rides on the end, which starts
   * the task in the slot it keeps (one round trip between two tasks instead of two); a later
   * answer starts it once the end is back. The next task's startCallback may then run before the
   * ended task's stopCallback completes. If that end does not act (the task had timed out, say),
   * the polled id comes back through `rejectCallback` (`reservation_lost`).
   * @defaultValue false
   */
  readonly claimsTasks: boolean = false;

  /**
   * True for a backend whose tasks run inside the scheduler's process (their work is a function
   * that `startCallback` calls, as with Procrastinate handlers), so that they cannot outlive it.
   * Such a task holds its slot on a short lease (the scheduler's `processLease`) that the scheduler
   * renews for it while the process lives and the task is within its own `timeout`: after a crash
   * (kill -9, OOM) its slot is free again within the lease, not at the end of the timeout. Leave it
   * false for tasks that run elsewhere and report through `keepalive` (the remote-task pattern):
   * they keep their own timeout. The scheduler's `shutdown()` waits for, aborts and at last drops
   * (ends `dropped`) only such tasks; the others live on in the store.
   * @defaultValue false
   */
  readonly runsInProcess: boolean = false;

  /**
   * Launches the task. Must not block: return once the task is launched. The occupancy is already
   * saved in the store, so the task may call `stop()` or `keepalive()` right away. If this throws
   * or rejects, the slot frees with reason `start_failed` and `stopCallback` follows.
   */
  abstract startCallback(taskId: string, context: TaskContext): Awaitable<void>;

  /**
   * Called once, by the first `load()` whose config lists the backend, before any pass: connect,
   * register, listen. If it throws, `load()` rejects.
   */
  open(_context: BackendContext): Awaitable<void> {}

  /** Called once, by `scheduler.close()` or at the end of `shutdown()`, after the last pass: release what `open` took. */
  close(): Awaitable<void> {}

  /**
   * Called once per occupancy, whatever ended it; `outcome.reason` says what did. Exactly once
   * without crashes; at least once across them: if the process that ran it died (or stalled past
   * `deliveryLease`) before it completed, another scheduler runs it again with the same token and
   * `outcome.redelivered` true. The token is the idempotency key.
   */
  stopCallback(_taskId: string, _outcome: StopOutcome): Awaitable<void> {}

  /** Called on a timeout (`timeout` or `max_runtime`), just before `stopCallback`. */
  timeoutCallback(_taskId: string, _info: TimeoutInfo): Awaitable<void> {}

  /** Called after a keepalive renewed the task's occupancy, in the process that received it. */
  keepaliveCallback(_taskId: string, _occupancy: Occupancy): Awaitable<void> {}

  /** Called when a task id this backend returned was not started; a claiming backend should un-claim it. */
  rejectCallback(_taskId: string, _info: RejectInfo): Awaitable<void> {}
}

/**
 * Optional capability: return up to `max` task ids in one call (e.g. one database round trip),
 * used instead of repeated `poll` calls when several slots are idle in a pass.
 */
export interface BatchPolling {
  pollBatch(max: number, context: PollContext): Awaitable<readonly string[]>;
}

export function canPollBatch(backend: Backend): backend is Backend & BatchPolling {
  return typeof (backend as Partial<BatchPolling>).pollBatch === 'function';
}
