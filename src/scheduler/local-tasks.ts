import { performance } from 'node:perf_hooks';
import type { Occupancy, SlotId } from '../contracts/store.js';
import { TaskAbortedError, type AbortCause } from '../core/errors.js';
import { LazyAbortController } from '../core/lazy-abort.js';

/** A task this process started: what it needs to fire the task's AbortSignal. */
export interface LocalTask {
  taskId: string;
  slotId: SlotId;
  token: number;
  backend: string;
  /**
   * The backend runs the task inside this process (`Backend.runsInProcess`): a shutdown waits for
   * it, aborts it, and drops it. A task handed to another process is left running in the store.
   */
  runsInProcess: boolean;
  /** The occupancy as the store last answered it (start, keepalive): what a stopCallback of reason `lost` carries. */
  occupancy: Occupancy;
  controller: LazyAbortController;
  /** Why its signal fired, once it has. */
  abortCause: AbortCause | null;
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
  /** The occupancy's timeout in the store (for a task that runs in process: the process lease). */
  timeoutMs: number;
  /** How long before `endsAt` the task is told: timer lateness, and time for the task to stop. */
  marginMs: number;
  /** The start's send time plus the max runtime, or Infinity: keepalives never move it. */
  maxEndsAt: number;
  endsAt: number;
  /**
   * Whether this process judges the lease: from the start for a task that runs in process, from
   * its first keepalive sent from here otherwise. A task renewed only from other processes (the
   * remote-task pattern) is left to the store.
   */
  watched: boolean;
  /**
   * For a task that runs in process: the end of its own timeout, from its start or its last
   * keepalive (send time + the slot's timeout). Past it the scheduler stops renewing the lease.
   */
  ownEndsAt: number | null;
  ownTimeoutMs: number;
  /** Keepalives of this task sent from here and not answered yet. */
  renewing: number;
  /** The last keepalive sent from here failed without an answer (the store unreachable). */
  renewalFailed: boolean;
  watch: NodeJS.Timeout | undefined;
}

/** What {@link LocalTasks.add} needs to start a task's lease: the start's send time and the slot's limits. */
export interface LeaseStart {
  sentAt: number;
  /** The occupancy's timeout in the store. */
  timeoutMs: number;
  maxRuntimeMs: number | null;
  /** For a task that runs in process (its store timeout is then the process lease): the slot's own timeout. */
  ownTimeoutMs?: number;
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
  /** Told after each task added or removed: what a shutdown waits on. Unset otherwise, so it costs nothing. */
  onChange: (() => void) | undefined;

  add(task: Omit<LocalTask, 'controller' | 'abortCause' | 'stopping' | 'seq' | 'lease'>, start: LeaseStart): LocalTask {
    const maxEndsAt = start.maxRuntimeMs === null ? Infinity : start.sentAt + start.maxRuntimeMs;
    const inProcess = start.ownTimeoutMs !== undefined;
    const lease: LocalLease = {
      timeoutMs: start.timeoutMs,
      marginMs: Math.min(1000, Math.max(20, start.timeoutMs / 20)),
      maxEndsAt,
      endsAt: Math.min(start.sentAt + start.timeoutMs, maxEndsAt),
      watched: inProcess,
      ownEndsAt: inProcess ? start.sentAt + start.ownTimeoutMs! : null,
      ownTimeoutMs: start.ownTimeoutMs ?? start.timeoutMs,
      renewing: 0,
      renewalFailed: false,
      watch: undefined,
    };
    // Every read of the task's signal checks the lease first: after a stall (a frozen process, a
    // blocked event loop) the task's own timer may run before the lease's, and it must not go on.
    const local: LocalTask = {
      ...task,
      controller: new LazyAbortController(() => this.check(local)),
      abortCause: null,
      stopping: false,
      seq: ++this.lastSeq,
      lease,
    };
    this.byTaskId.set(task.taskId, local);
    if (inProcess) this.watch(local);
    this.onChange?.();
    return local;
  }

  /**
   * A keepalive of `local` is about to be sent from here; returns its send time, for
   * {@link renewalAnswered}. From then on this process judges the lease: should it end before a
   * renewal gets through (the store unreachable, or this process frozen past it), the store may
   * have reaped the slot and given it to another task, so the task is told to stop (cause `lost`)
   * rather than run on unbounded. Tasks renewed only from other processes are never judged here.
   */
  renewalSent(local: LocalTask): number {
    local.lease.watched = true;
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

  /**
   * A call sent from here about the task got no answer (the store unreachable): should the lease
   * end so, the cause is `lost`. `sent` is false for a call that was not a renewal (a stop).
   */
  renewalFailedToAnswer(local: LocalTask, sent = true): void {
    if (sent) local.lease.renewing--;
    local.lease.watched = true;
    local.lease.renewalFailed = true;
    this.watch(local);
  }

  /** The task itself reported alive (its keepalive, sent at `sentAt`, renewed the slot): its own timeout starts again. */
  ownKeepalive(local: LocalTask, sentAt: number): void {
    const { lease } = local;
    if (lease.ownEndsAt !== null) lease.ownEndsAt = Math.max(lease.ownEndsAt, sentAt + lease.ownTimeoutMs);
  }

  /**
   * Tasks that run in process whose lease the scheduler should renew now: past a third of it,
   * still within their own timeout and max runtime, and neither stopping nor told to stop. A task
   * told to stop by a shutdown is the exception: it still runs here, and its slot stays held until
   * it stops or the shutdown drops it, rather than lapse and be reaped as a `timeout` elsewhere.
   */
  leasesToRenew(now = performance.now()): LocalTask[] {
    const due: LocalTask[] = [];
    for (const local of this.byTaskId.values()) {
      const { lease } = local;
      if (lease.ownEndsAt === null || local.stopping) continue;
      if (local.controller.aborted && local.abortCause !== 'shutdown') continue;
      // The task went silent (or ran out of runtime): the lease lapses, and the store reaps it.
      if (now >= lease.ownEndsAt || now >= lease.maxEndsAt) continue;
      if (lease.endsAt - now <= (lease.timeoutMs * 2) / 3) due.push(local);
    }
    return due;
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
    this.onChange?.();
  }

  /** Fires the signal, keeping the task tracked (a cancel asks; the task decides when to stop). */
  abort(local: LocalTask, cause: AbortCause): void {
    if (local.controller.aborted) return;
    local.abortCause = cause;
    local.controller.abort(
      new TaskAbortedError(cause, { taskId: local.taskId, slotId: local.slotId, token: local.token, backend: local.backend }),
    );
  }

  /**
   * True once the lease may have ended, so that the store may have reaped the slot: the task must
   * not start, or must stop. Only for leases this process judges.
   */
  lapsed(local: LocalTask, now = performance.now()): boolean {
    return local.lease.watched && now >= local.lease.endsAt - local.lease.marginMs;
  }

  /** Local tasks whose slot is among `slotIds`. */
  inSlots(slotIds: { has(slotId: SlotId): boolean }): LocalTask[] {
    return [...this.byTaskId.values()].filter((task) => slotIds.has(task.slotId));
  }

  /** Every task tracked here, in the order they started. */
  all(): LocalTask[] {
    return [...this.byTaskId.values()];
  }

  get size(): number {
    return this.byTaskId.size;
  }

  /**
   * Fires the signal of a task whose lease may have ended: `lost` when renewals were under way or
   * failing (or, for a task that runs in process, the scheduler's own renewals did not get
   * through), `timeout` when the task itself went silent.
   */
  private check(local: LocalTask): void {
    if (local.controller.aborted || local.stopping || this.get(local.taskId, local.token) !== local) return;
    const now = performance.now();
    if (!this.lapsed(local, now)) return;
    const { ownEndsAt, renewing, renewalFailed } = local.lease;
    const silent = ownEndsAt === null ? renewing === 0 && !renewalFailed : ownEndsAt <= now;
    this.abort(local, silent ? 'timeout' : 'lost');
  }

  /** Checks the lease when it ends, unless a check is already due; again after each check, until the task is gone. */
  private watch(local: LocalTask): void {
    const { lease } = local;
    if (lease.watch !== undefined) return;
    lease.watch = setTimeout(
      () => {
        lease.watch = undefined;
        if (this.get(local.taskId, local.token) !== local || local.controller.aborted) return;
        this.check(local);
        if (!local.controller.aborted) this.watch(local);
      },
      Math.max(0, lease.endsAt - lease.marginMs - performance.now()),
    );
    // A timer must never keep the process alive on its own.
    lease.watch.unref();
  }
}
