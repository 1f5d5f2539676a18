/**
 * The journal of a fault run, indexed for the checker: processes (when each died or stalled),
 * occupancies (by task id and token) and executions. Pure: events in, model out. Times are
 * milliseconds of the shared monotonic clock.
 */
import type { EventOf, ExecOutcome, JournalEvent } from './harness/events.js';
import { nsToMs } from './harness/journal.js';

/** A time a process could run no code: SIGSTOP to SIGCONT, or a blocked event loop. */
export interface Stall {
  pid: number;
  from: number;
  /** Infinity when it never woke within the journal. */
  to: number;
  kind: 'stop' | 'block';
}

export interface ProcessInfo {
  pid: number;
  /** When it was killed (SIGKILL), or null. */
  deathAt: number | null;
  exitCode: number | null;
  closed: boolean;
  fatal: string[];
}

/** One occupancy, `${taskId}#${token}`, as the journal shows it. */
export interface OccupancyInfo {
  key: string;
  taskId: string;
  token: number;
  slotId: string;
  /** The process that started it (its `occupied` or `start-callback` line). */
  pid: number | null;
  /** When the store's start was known (`occupied`), or the start callback if that line is missing. */
  since: number | null;
  startCallbackAt: number | null;
  begun: boolean | null;
  /** Whether its backend runs its tasks in process (their lease is judged from the start). */
  inProcess: boolean | null;
  /** When its task sent keepalives from its process. */
  keepalives: number[];
  abort: { at: number; cause: string } | null;
  stopCalls: number[];
  /** What its own `stop()` answered first (ok and reason, or the error). */
  stopResult: EventOf<'stop-result'> | null;
  /** A `lapsed` reject: the process found its lease over before `startCallback`, never started it. */
  lapsedAt: number | null;
  /**
   * Its deliveries: `doneAt`, when the backend's work finished; `deliveredAt`, when the scheduler
   * was through with its callbacks (ran, failed or given up on: the acknowledgement is queued).
   */
  stopCallbacks: Array<{
    at: number;
    pid: number;
    reason: string;
    slotId: string;
    redelivered: boolean;
    doneAt: number | null;
    deliveredAt: number | null;
  }>;
  /** When its task's exec-end said it honoured a cancel (the source recorded it cancelled). */
  cancelledAt: number | null;
}

/** A backend call that misbehaved on the harness's order. */
export interface MisbehaviourInfo {
  at: number;
  pid: number;
  call: string;
  how: string;
  slotId: string;
  taskId: string | null;
  token: number | null;
}

/** A cancel the harness asked for, and what it answered (null: no answer came). */
export interface CancelInfo {
  at: number;
  taskId: string;
  asked: number | null;
  fed: boolean;
  result: (EventOf<'cancel-result'> & { at: number }) | null;
}

/** One execution of a task's work. */
export interface Execution {
  key: string;
  taskId: string;
  token: number;
  slotId: string;
  pid: number;
  start: number;
  /** Its `exec-end`, or its process's death; null when neither came. */
  end: number | null;
  outcome: ExecOutcome | 'killed' | null;
  /** The last look at its signal that let it go on. */
  lastGo: number | null;
}

/** A fault of the store, as the harness injected it. */
export interface StoreFault {
  kind: 'restart' | 'freeze' | 'failover' | 'master-kill';
  from: number;
  to: number;
  /** A restart that came back with no state (Redis without persistence), a killed master that may have taken writes with it. */
  stateLoss: boolean;
}

export interface RunModel {
  /** The first line's time: reports count from it. */
  origin: number;
  processes: Map<number, ProcessInfo>;
  stalls: Stall[];
  storeFaults: StoreFault[];
  occupancies: Map<string, OccupancyInfo>;
  executions: Execution[];
  fed: Set<string>;
  /** Task id -> executions that completed it. */
  completions: Map<string, Execution[]>;
  /** When each fault ended (a kill: the death), for recovery times. */
  faultEnds: Array<{ fault: string; at: number }>;
  /** When each fault began (its injection; a block: when the task blocked). */
  faultStarts: number[];
  faultCounts: Record<string, number>;
  rejects: Array<EventOf<'reject'> | EventOf<'poll-abandoned'>>;
  misbehaviours: MisbehaviourInfo[];
  /** The scheduler's `poll:error` and `callback:error` lines, in order. */
  pollErrors: Array<EventOf<'poll-error'> & { at: number }>;
  callbackErrors: Array<EventOf<'callback-error'> & { at: number }>;
  /** Polls that returned, on order, the id of a task holding a slot. */
  dupPolls: Array<EventOf<'dup-poll'> & { at: number }>;
  cancels: CancelInfo[];
  /** Task id -> when it honoured a cancel (its first such exec-end). */
  cancelledTasks: Map<string, number>;
  /** Whether the workers journaled `delivered` lines (journals written before them did not). */
  journalsDeliveries: boolean;
  /** When the harness injected its last fault: liveness is judged from the end of that fault. */
  faultsDoneAt: number | null;
  feedStopAt: number | null;
  end: EventOf<'end'> | null;
  sourceFinal: EventOf<'source-final'> | null;
  passErrors: number;
  swept: number;
}

export const occupancyKey = (taskId: string, token: number): string => `${taskId}#${token}`;

/** Indexes a merged journal (sorted by time). */
export function buildModel(events: readonly JournalEvent[]): RunModel {
  const model: RunModel = {
    origin: events.length > 0 ? nsToMs(events[0]!.t) : 0,
    processes: new Map(),
    stalls: [],
    storeFaults: [],
    occupancies: new Map(),
    executions: [],
    fed: new Set(),
    completions: new Map(),
    faultEnds: [],
    faultStarts: [],
    faultCounts: {},
    rejects: [],
    misbehaviours: [],
    pollErrors: [],
    callbackErrors: [],
    dupPolls: [],
    cancels: [],
    cancelledTasks: new Map(),
    journalsDeliveries: false,
    faultsDoneAt: null,
    feedStopAt: null,
    end: null,
    sourceFinal: null,
    passErrors: 0,
    swept: 0,
  };
  const processOf = (pid: number): ProcessInfo => {
    let info = model.processes.get(pid);
    if (!info) model.processes.set(pid, (info = { pid, deathAt: null, exitCode: null, closed: false, fatal: [] }));
    return info;
  };
  const died = (pid: number, at: number) => {
    const info = processOf(pid);
    info.deathAt = info.deathAt === null ? at : Math.min(info.deathAt, at);
  };
  const occupancyOf = (taskId: string, token: number, slotId: string): OccupancyInfo => {
    const key = occupancyKey(taskId, token);
    let info = model.occupancies.get(key);
    if (!info) {
      info = {
        key,
        taskId,
        token,
        slotId,
        pid: null,
        since: null,
        startCallbackAt: null,
        begun: null,
        inProcess: null,
        keepalives: [],
        abort: null,
        stopCalls: [],
        stopResult: null,
        lapsedAt: null,
        stopCallbacks: [],
        cancelledAt: null,
      };
      model.occupancies.set(key, info);
    }
    return info;
  };
  const openExecutions = new Map<string, Execution>();
  // The last occupancy each process saw start for a task: the one a `lapsed` reject is about.
  const lastOccupied = new Map<string, OccupancyInfo>();
  const openStalls = new Map<string, Stall>();
  const openStoreFaults = new Map<string, StoreFault>();
  const count = (fault: string) => (model.faultCounts[fault] = (model.faultCounts[fault] ?? 0) + 1);

  for (const event of events) {
    const at = nsToMs(event.t);
    switch (event.ev) {
      case 'feed':
        for (const id of event.taskIds) model.fed.add(id);
        break;
      case 'faults-done':
        model.faultsDoneAt = at;
        break;
      case 'feed-stop':
        model.feedStopAt = at;
        break;
      case 'exit':
        processOf(event.child).exitCode = event.code;
        if (event.signal === 'SIGKILL') died(event.child, at);
        break;
      case 'dying':
        died(event.pid, at);
        break;
      case 'fatal':
        processOf(event.pid).fatal.push(event.error);
        break;
      case 'closed':
        processOf(event.pid).closed = true;
        break;
      case 'pass-error':
        model.passErrors++;
        break;
      case 'swept':
        model.swept++;
        break;
      case 'fault':
        indexFault(event, at);
        break;
      case 'block-start':
        model.faultStarts.push(at);
        openStalls.set(`block:${event.pid}`, { pid: event.pid, from: at, to: Infinity, kind: 'block' });
        break;
      case 'block-end': {
        const stall = openStalls.get(`block:${event.pid}`);
        if (stall) {
          stall.to = at;
          model.stalls.push(stall);
          openStalls.delete(`block:${event.pid}`);
          model.faultEnds.push({ fault: 'block', at });
        }
        break;
      }
      case 'occupied': {
        const occupancy = occupancyOf(event.taskId, event.token, event.slotId);
        occupancy.pid = event.pid;
        occupancy.since = at;
        lastOccupied.set(`${event.pid}:${event.taskId}`, occupancy);
        break;
      }
      case 'start-callback': {
        const occupancy = occupancyOf(event.taskId, event.token, event.slotId);
        occupancy.pid ??= event.pid;
        occupancy.since ??= at;
        occupancy.startCallbackAt = at;
        occupancy.begun = event.begun;
        occupancy.inProcess = event.inProcess;
        break;
      }
      case 'keepalive':
        occupancyOf(event.taskId, event.token, event.slotId).keepalives.push(at);
        break;
      case 'abort':
        occupancyOf(event.taskId, event.token, event.slotId).abort ??= { at, cause: event.cause };
        break;
      case 'stop-call':
        occupancyOf(event.taskId, event.token, event.slotId).stopCalls.push(at);
        break;
      case 'stop-result':
        occupancyOf(event.taskId, event.token, event.slotId).stopResult ??= event;
        break;
      case 'stop-callback':
        occupancyOf(event.taskId, event.token, event.slotId).stopCallbacks.push({
          at,
          pid: event.pid,
          reason: event.reason,
          slotId: event.slotId,
          redelivered: event.redelivered,
          doneAt: null,
          deliveredAt: null,
        });
        break;
      case 'delivered': {
        model.journalsDeliveries = true;
        const delivery = occupancyOf(event.taskId, event.token, event.slotId).stopCallbacks.find(
          (d) => d.pid === event.pid && d.deliveredAt === null,
        );
        if (delivery) delivery.deliveredAt = at;
        break;
      }
      case 'misbehave':
        model.misbehaviours.push({
          at,
          pid: event.pid,
          call: event.call,
          how: event.how,
          slotId: event.slotId,
          taskId: event.taskId,
          token: event.token,
        });
        count(event.call === 'poll' ? `poll:${event.how}` : `callback:${event.call}:${event.how}`);
        model.faultStarts.push(at);
        model.faultEnds.push({ fault: 'misbehave', at });
        break;
      case 'poll-error':
        model.pollErrors.push({ ...event, at });
        break;
      case 'callback-error':
        model.callbackErrors.push({ ...event, at });
        break;
      case 'dup-poll':
        model.dupPolls.push({ ...event, at });
        count('duplicate');
        model.faultStarts.push(at);
        model.faultEnds.push({ fault: 'duplicate', at });
        break;
      case 'cancel':
        model.cancels.push({ at, taskId: event.taskId, asked: event.token, fed: event.fed, result: null });
        count(event.fed ? 'cancel' : 'cancel:never-fed');
        model.faultStarts.push(at);
        break;
      case 'cancel-result': {
        const cancel = model.cancels.find((c) => c.result === null && c.taskId === event.taskId && c.asked === event.asked);
        if (cancel) cancel.result = { ...event, at };
        model.faultEnds.push({ fault: 'cancel', at });
        break;
      }
      case 'stop-callback-done': {
        const delivery = occupancyOf(event.taskId, event.token, event.slotId).stopCallbacks.find(
          (d) => d.pid === event.pid && d.doneAt === null,
        );
        if (delivery) delivery.doneAt = at;
        break;
      }
      case 'reject':
        model.rejects.push(event);
        if (event.reason === 'lapsed') {
          const lapsed = lastOccupied.get(`${event.pid}:${event.taskId}`);
          if (lapsed && lapsed.startCallbackAt === null) lapsed.lapsedAt = at;
        }
        break;
      case 'poll-abandoned':
        model.rejects.push(event);
        break;
      case 'exec-start': {
        const execution: Execution = {
          key: occupancyKey(event.taskId, event.token),
          taskId: event.taskId,
          token: event.token,
          slotId: event.slotId,
          pid: event.pid,
          start: at,
          end: null,
          outcome: null,
          lastGo: null,
        };
        openExecutions.set(execution.key, execution);
        model.executions.push(execution);
        break;
      }
      case 'exec-end': {
        const execution = openExecutions.get(occupancyKey(event.taskId, event.token));
        if (!execution) break;
        openExecutions.delete(execution.key);
        execution.end = at;
        execution.outcome = event.outcome;
        execution.lastGo = event.lastGo === null ? null : nsToMs(event.lastGo);
        // Told to stop at its first look, it did no work at all: no time in its slot.
        if (event.outcome === 'aborted' && event.steps === 0) execution.end = execution.start;
        if (event.outcome === 'cancelled') {
          occupancyOf(event.taskId, event.token, event.slotId).cancelledAt = at;
          if (!model.cancelledTasks.has(event.taskId)) model.cancelledTasks.set(event.taskId, at);
        }
        if (event.outcome === 'completed')
          model.completions.set(execution.taskId, [...(model.completions.get(execution.taskId) ?? []), execution]);
        break;
      }
      case 'source-final':
        model.sourceFinal = event;
        break;
      case 'end':
        model.end = event;
        break;
      default:
        break;
    }
  }
  // Executions of killed processes end at the death; a kill's fault ends with it too.
  for (const execution of openExecutions.values()) {
    const deathAt = model.processes.get(execution.pid)?.deathAt ?? null;
    if (deathAt !== null) {
      execution.end = deathAt;
      execution.outcome = 'killed';
    }
  }
  for (const info of model.processes.values()) {
    if (info.deathAt === null) continue;
    model.faultEnds.push({ fault: 'kill', at: info.deathAt });
    model.faultStarts.push(info.deathAt);
  }
  // A process stalled between the store's start and its answer journals `occupied` late, maybe
  // after the occupancy was reaped and delivered elsewhere: the start came before any end of it.
  for (const occupancy of model.occupancies.values()) {
    const firstEnd = occupancy.stopCallbacks[0]?.at;
    if (occupancy.since !== null && firstEnd !== undefined && firstEnd < occupancy.since) occupancy.since = firstEnd;
  }
  model.stalls.push(...openStalls.values());
  model.storeFaults.push(...openStoreFaults.values());
  return model;

  function indexFault(event: EventOf<'fault'>, at: number): void {
    // Injections only: a SIGCONT, a thaw or a restart's end closes the fault counted at its start.
    const counted = {
      kill: `kill:${event.phase ?? 'now'}`,
      'arm-kill': `kill:${String(event.phase)}`,
      stop: 'stop',
      block: 'block',
      'restart-begin': 'restart',
      freeze: 'freeze',
      'failover-begin': 'failover',
      'master-kill-begin': 'master-kill',
    } as const;
    const name = counted[event.fault as keyof typeof counted] as string | undefined;
    if (name) count(name);
    // A block begins when the task blocks (its own line), an armed kill when the process dies.
    if (name && event.fault !== 'block' && event.fault !== 'arm-kill') model.faultStarts.push(at);
    const target = event.target;
    switch (event.fault) {
      case 'kill':
        if (typeof target === 'number') died(target, at);
        break;
      case 'stop':
        openStalls.set(`stop:${String(target)}`, { pid: target as number, from: at, to: Infinity, kind: 'stop' });
        break;
      case 'cont': {
        const stall = openStalls.get(`stop:${String(target)}`);
        if (stall) {
          stall.to = at;
          model.stalls.push(stall);
          openStalls.delete(`stop:${String(target)}`);
        }
        model.faultEnds.push({ fault: 'stop', at });
        break;
      }
      case 'restart-begin':
        openStoreFaults.set('restart', { kind: 'restart', from: at, to: Infinity, stateLoss: event.stateLoss === true });
        break;
      case 'failover-begin':
      case 'master-kill-begin': {
        const kind = event.fault === 'failover-begin' ? 'failover' : 'master-kill';
        openStoreFaults.set(kind, { kind, from: at, to: Infinity, stateLoss: event.stateLoss === true });
        break;
      }
      case 'freeze':
        openStoreFaults.set('freeze', { kind: 'freeze', from: at, to: Infinity, stateLoss: false });
        break;
      case 'restart-end':
      case 'thaw':
      case 'failover-end':
      case 'master-kill-end': {
        const kind = ({ thaw: 'freeze', 'restart-end': 'restart', 'failover-end': 'failover', 'master-kill-end': 'master-kill' } as const)[
          event.fault
        ];
        const fault = openStoreFaults.get(kind);
        if (fault) {
          fault.to = at;
          model.storeFaults.push(fault);
          openStoreFaults.delete(kind);
        }
        model.faultEnds.push({ fault: kind, at });
        break;
      }
      default:
        break;
    }
  }
}
