import type { Backend, RejectInfo, RejectReason } from '../contracts/backend.js';
import type { EndedOccupancy } from '../contracts/store.js';
import { callWithTimeout } from '../core/call.js';
import { toError } from '../core/errors.js';
import { abortCauseOfEnd } from '../contracts/abort-cause.js';
import type { SchedulerEvents } from './events.js';
import type { LocalTasks } from './local-tasks.js';
import { errorFields, type Logger } from '../core/logger.js';

/** Emits a scheduler event (the scheduler's `notify`, which never throws). */
export type Notify = <K extends keyof SchedulerEvents>(event: K, ...args: SchedulerEvents[K]) => void;

export interface BackendCallbacksDeps {
  backends: ReadonlyMap<string, Backend>;
  localTasks: LocalTasks;
  logger: Logger;
  callbackTimeoutMs: number;
  notify: Notify;
}

/**
 * Runs a scheduler's backend callbacks: each call is bounded by `callbackTimeout`, and a throw,
 * rejection or hang is logged and emitted as `callback:error`, never raised into the scheduler.
 */
export class BackendCallbacks {
  constructor(private readonly deps: BackendCallbacksDeps) {}

  /** Fires the local AbortSignal if the task runs here, then `timeoutCallback` (on timeouts) and `stopCallback`. */
  async deliver(ended: EndedOccupancy): Promise<void> {
    const { backends, localTasks, logger, notify } = this.deps;
    localTasks.remove(ended.taskId, ended.token, abortCauseOfEnd(ended.reason));
    const backend = backends.get(ended.backend);
    if (!backend) {
      logger.error('no backend registered to receive the end of a task', fieldsOf(ended));
      return;
    }
    if (ended.reason === 'timeout' || ended.reason === 'max_runtime') {
      logger.warn('task timed out', fieldsOf(ended));
      notify('task:timeout', ended);
      const info = ended as EndedOccupancy & { reason: 'timeout' | 'max_runtime' };
      await this.run('timeoutCallback', ended, () => backend.timeoutCallback(ended.taskId, info));
    } else {
      logger.info('task ended', fieldsOf(ended));
    }
    await this.run('stopCallback', ended, () => backend.stopCallback(ended.taskId, ended));
    notify('task:stop', ended);
  }

  /** A polled id that no slot started: its backend hears of it (a claiming backend un-claims it). */
  async reject(backendName: string, taskId: string, reason: RejectReason, slotId: string, retryAfterMs?: number): Promise<void> {
    const backend = this.deps.backends.get(backendName)!;
    const info: RejectInfo = retryAfterMs === undefined ? { reason, slotId } : { reason, slotId, retryAfterMs };
    this.deps.logger.warn('polled task not started', { backend: backendName, taskId, ...info });
    this.deps.notify('task:reject', { backend: backendName, taskId, ...info });
    await this.run('rejectCallback', { taskId, slotId, backend: backendName }, () => backend.rejectCallback(taskId, info));
  }

  /** Runs one backend callback; a throw, rejection or hang is logged and emitted, never raised. */
  async run(
    callback: 'stopCallback' | 'timeoutCallback' | 'keepaliveCallback' | 'rejectCallback',
    about: { taskId: string; slotId: string; backend: string; token?: number },
    fn: () => unknown,
  ): Promise<void> {
    try {
      await callWithTimeout(fn, this.deps.callbackTimeoutMs, callback, about);
    } catch (error) {
      const fields = { taskId: about.taskId, slotId: about.slotId, backend: about.backend, token: about.token };
      this.deps.logger.error(`${callback} failed`, { ...fields, ...errorFields(error) });
      this.deps.notify('callback:error', { backend: about.backend, callback, taskId: about.taskId, error: toError(error) });
    }
  }
}

/** The log fields of an ended occupancy. */
export function fieldsOf(ended: EndedOccupancy): Record<string, unknown> {
  return {
    slotId: ended.slotId,
    taskId: ended.taskId,
    backend: ended.backend,
    token: ended.token,
    reason: ended.reason,
    status: ended.status,
    error: ended.error,
    // Only on a redelivery: the line then says why a backend may see this end twice.
    ...(ended.redelivered ? { redelivered: true } : {}),
  };
}
