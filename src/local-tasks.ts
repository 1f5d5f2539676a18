import { performance } from 'node:perf_hooks';
import type { Occupancy, SlotId } from '../slots/store.js';
import { TaskAbortedError, type AbortCause } from './errors.js';
import { LazyAbortController } from './lazy-abort.js';

/** A task this process started: what it needs to fire the task's AbortSignal. */
export interface LocalTask {
  taskId: string;
  slotId: SlotId;
  token: number;
  backend: string;
  /** The occupancy as the store last answered it (start, keepalive): what a stopCallback of reason `lost` carries. */
  occupancy: Occupancy;
  controller: LazyAbortController;
  /** Set while this process is stopping the task, so that the pass does not mistake the freed slot for a lost one. */
  stopping: boolean;
  /** Order of the start in this process: a pass judges only tasks started before it read the store. */
  seq: number;
  /** The lease as this process knows it: see {@link LocalTasks.renewalSent}. */
  lease: LocalLease;
}

/**
 * When the store's deadline may have passed, on this process's monotonic clock (`performance.now()`
 * milliseconds). A request that renews the slot was sent before the store acted on it, so its send
 * time plus the timeout is never later than the deadline the store set: a conservative bound that
 * needs no clock shared with the store.
 */
export interface LocalLease {
  timeoutMs: number;
  /** How long before `endsAt` the task is told: timer lateness, and time for the task to stop. */
  marginMs: number;
  /** The start's send time plus the max runtime, or Infinity: keepalives never move it. */
  maxEndsAt: number;
  endsAt: number;
  /** Keepalives of this task sent from here and not answered yet. */
  renewing: number;
  /** The last keepalive sent from here failed without an answer (the store unreachable). */
  renewalFailed: boolean;
  watch: NodeJS.Timeout | undefined;
}

/** What {@link LocalTasks.add} needs to start a task's lease: the start's send time and the slot's limits. */
export interface LeaseStart {
  sentAt: number;
  timeoutMs: number;
  maxRuntimeMs: number | null;
}

/**
 * The tasks started by this scheduler instance, by task id, so that a cancel, a timeout or a lost
 * slot reaches the running task as an AbortSignal. Only the occupancy with the matching token is
 * touched, so news about an older occupancy never aborts a newer one.
 */
export class LocalTasks {
  private readonly byTaskId = new Map<string, LocalTask>();
  /** The `seq` of the last task added. */
  lastSeq = 0;

  add(task: Omit<LocalTask, 'controller' | 'stopping' | 'seq' | 'lease'>, start: LeaseStart): LocalTask {
    const maxEndsAt = start.maxRuntimeMs === null ? Infinity : start.sentAt + start.maxRuntimeMs;
    const lease: LocalLease = {
      timeoutMs: start.timeoutMs,
      marginMs: Math.min(1000, Math.max(20, start.timeoutMs / 20)),
      maxEndsAt,
      endsAt: Math.min(start.sentAt + start.timeoutMs, maxEndsAt),
      renewing: 0,
      renewalFailed: false,
      watch: undefined,
    };
    const local = { ...task, controller: new LazyAbortController(), stopping: false, seq: ++this.lastSeq, lease };
    this.byTaskId.set(task.taskId, local);
    return local;
  }

  /**
   * A keepalive of `local` is about to be sent from here; returns its send time, for
   * {@link renewalAnswered}. While it has no answer, or after it failed, the lease is watched:
   * should it end before a renewal gets through, the store may have reaped the slot and given it
   * to another task, so the task is told to stop (cause `lost`) rather than run on unbounded.
   * Tasks renewed from other processes are never judged here: only this process's own attempts arm
   * the watch.
   */
  renewalSent(local: LocalTask): number {
    local.lease.renewing++;
    this.watch(local);
    return performance.now();
  }

  /** The store answered the keepalive sent at `sentAt`; `renewed` if the answer was ok. */
  renewalAnswered(local: LocalTask, sentAt: number, renewed: boolean): void {
    const { lease } = local;
    lease.renewing--;
    lease.renewalFailed = false;
    if (renewed) lease.endsAt = Math.max(lease.endsAt, Math.min(sentAt + lease.timeoutMs, lease.maxEndsAt));
  }

  /** The keepalive got no answer (the store unreachable): the lease stays watched. */
  renewalFailedToAnswer(local: LocalTask): void {
    local.lease.renewing--;
    local.lease.renewalFailed = true;
    this.watch(local);
  }

  get(taskId: string, token?: number): LocalTask | undefined {
    const local = this.byTaskId.get(taskId);
    return local && (token === undefined || local.token === token) ? local : undefined;
  }

  /** Forgets the occupancy, firing its signal first when a cause is given. */
  remove(taskId: string, token: number, cause?: AbortCause): void {
    const local = this.get(taskId, token);
    if (!local) return;
    this.byTaskId.delete(taskId);
    clearTimeout(local.lease.watch);
    if (cause) this.abort(local, cause);
  }

  /** Fires the signal, keeping the task tracked (a cancel asks; the task decides when to stop). */
  abort(local: LocalTask, cause: AbortCause): void {
    if (local.controller.aborted) return;
    local.controller.abort(
      new TaskAbortedError(cause, { taskId: local.taskId, slotId: local.slotId, token: local.token, backend: local.backend }),
    );
  }

  /** Checks the lease when it ends, unless a check is already due. */
  private watch(local: LocalTask): void {
    const { lease } = local;
    if (lease.watch !== undefined) return;
    lease.watch = setTimeout(() => {
      lease.watch = undefined;
      if (this.get(local.taskId, local.token) !== local || local.stopping) return;
      // The last renewal from here got through: the store judges the rest (passes, keepalives).
      if (lease.renewing === 0 && !lease.renewalFailed) return;
      if (performance.now() < lease.endsAt - lease.marginMs) this.watch(local);
      else this.abort(local, 'lost');
    }, Math.max(0, lease.endsAt - lease.marginMs - performance.now()));
    // A timer must never keep the process alive on its own.
    lease.watch.unref();
  }

  /** Local tasks whose slot is among `slotIds`. */
  inSlots(slotIds: { has(slotId: SlotId): boolean }): LocalTask[] {
    return [...this.byTaskId.values()].filter((task) => slotIds.has(task.slotId));
  }

  get size(): number {
    return this.byTaskId.size;
  }
}
