import type { SlotId } from '../slots/store.js';
import { TaskAbortedError, type AbortCause } from './errors.js';
import { LazyAbortController } from './lazy-abort.js';

/** A task this process started: what it needs to fire the task's AbortSignal. */
export interface LocalTask {
  taskId: string;
  slotId: SlotId;
  token: number;
  backend: string;
  controller: LazyAbortController;
  /** Set while this process is stopping the task, so that the pass does not mistake the freed slot for a lost one. */
  stopping: boolean;
  /** Order of the start in this process: a pass judges only tasks started before it read the store. */
  seq: number;
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

  add(task: Omit<LocalTask, 'controller' | 'stopping' | 'seq'>): LocalTask {
    const local = { ...task, controller: new LazyAbortController(), stopping: false, seq: ++this.lastSeq };
    this.byTaskId.set(task.taskId, local);
    return local;
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
    if (cause) this.abort(local, cause);
  }

  /** Fires the signal, keeping the task tracked (a cancel asks; the task decides when to stop). */
  abort(local: LocalTask, cause: AbortCause): void {
    if (local.controller.aborted) return;
    local.controller.abort(
      new TaskAbortedError(cause, { taskId: local.taskId, slotId: local.slotId, token: local.token, backend: local.backend }),
    );
  }

  /** Local tasks whose slot is among `slotIds`. */
  inSlots(slotIds: { has(slotId: SlotId): boolean }): LocalTask[] {
    return [...this.byTaskId.values()].filter((task) => slotIds.has(task.slotId));
  }

  get size(): number {
    return this.byTaskId.size;
  }
}
