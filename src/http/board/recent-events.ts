/**
 * The board's strip of recent events: what this process's scheduler did (tasks started, stopped,
 * timed out, rejected; passes that failed), kept in a short ring from the moment the endpoint is
 * built, so a page opened later still shows what just happened. Other hosts' events are not
 * here: they reach the board through the slots and the history, which are read from the store.
 */
import type { Scheduler } from '../../scheduler/scheduler.js';
import { listenTo } from './listen.js';

/** How many events the strip keeps, newest last. */
export const recentEventsKept = 50;

/** One line of the strip. Times are this host's clock, ms. */
export interface BoardEvent {
  /** Increases by one per event of this process: a page can tell a new event from one it has shown. */
  seq: number;
  at: number;
  kind: 'start' | 'stop' | 'timeout' | 'reject' | 'pass-error';
  taskId: string | null;
  slotId: string | null;
  backend: string | null;
  /** The end reason of a stop or timeout, the reject reason, or null. */
  reason: string | null;
  /** The status a stop reported, or null. */
  status: string | null;
  /** The error a stop reported, or a failed pass's message. */
  error: string | null;
}

type EventFields = Omit<BoardEvent, 'seq' | 'at'>;

const none = { taskId: null, slotId: null, backend: null, reason: null, status: null, error: null } satisfies Omit<EventFields, 'kind'>;

/** Records a scheduler's events from construction until `close()`. */
export class RecentEvents {
  private readonly events: BoardEvent[] = [];
  private seq = 0;
  /** Stops recording. */
  readonly close: () => void;

  constructor(scheduler: Scheduler) {
    this.close = listenTo(scheduler, {
      'task:start': (o) => this.add({ ...none, kind: 'start', taskId: o.taskId, slotId: o.slotId, backend: o.backend }),
      'task:stop': (ended) =>
        this.add({
          kind: 'stop',
          taskId: ended.taskId,
          slotId: ended.slotId,
          backend: ended.backend,
          reason: ended.reason,
          status: ended.status,
          error: ended.error,
        }),
      'task:timeout': (ended) =>
        this.add({ ...none, kind: 'timeout', taskId: ended.taskId, slotId: ended.slotId, backend: ended.backend, reason: ended.reason }),
      'task:reject': (info) =>
        this.add({ ...none, kind: 'reject', taskId: info.taskId, slotId: info.slotId, backend: info.backend, reason: info.reason }),
      'pass:error': (error) => this.add({ ...none, kind: 'pass-error', error: error.message }),
    });
  }

  /** The events kept, oldest first. */
  list(): BoardEvent[] {
    return [...this.events];
  }

  private add(fields: EventFields): void {
    this.events.push({ seq: ++this.seq, at: Date.now(), ...fields });
    if (this.events.length > recentEventsKept) this.events.shift();
  }
}
