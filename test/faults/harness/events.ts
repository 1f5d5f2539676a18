/**
 * The lines of a fault run's journal: what each worker process saw its tasks do, and what the
 * harness did to the processes and the store. The checker reads nothing else, so every fact it
 * judges is here, written outside the slot store under test.
 *
 * Every line carries `t`, the writer's CLOCK_MONOTONIC in nanoseconds (`process.hrtime.bigint()`):
 * one clock for every process of the machine, so the lines of all processes merge in order. Under
 * libfaketime the monotonic clock must stay real (FAKETIME_DONT_FAKE_MONOTONIC=1).
 */

import type { Misbehaviour, MisbehavingCall } from './control.js';

/** What every line has: when (monotonic ns) and which process wrote it. */
export interface LineBase {
  t: number;
  pid: number;
}

/** The occupancy a task line is about: task id, fencing token, slot. */
export interface TaskRef {
  taskId: string;
  token: number;
  slotId: string;
}

/** How a task's execution ended. */
export type ExecOutcome =
  /** It did all its steps and its completion was recorded in the task source. */
  | 'completed'
  /** It did all its steps, but the source refused the completion: the task had been handed to another occupancy. */
  | 'fenced'
  /** Its signal said it must stop (lost slot, timeout): it stopped between two steps. */
  | 'aborted'
  /** A Procrastinate job's handler did all its steps and returned (the backend then finishes the job `succeeded`). */
  | 'succeeded'
  /** A Procrastinate job's handler did all its steps and threw on purpose (retried per its task's policy, else `failed`). */
  | 'threw'
  /** Its signal said a cancel was requested: it stopped between two steps, the source recorded it cancelled. */
  | 'cancelled';

/** The lines a worker process writes. */
export type WorkerEvent =
  /**
   * The scheduler loaded its config: the process serves its slots from now on. `wallMs`: its
   * `Date.now()` then, to see a skewed clock against the line's monotonic stamp.
   */
  | { ev: 'ready'; slots: number; backends: string[]; wallMs?: number }
  /** A poll claimed the task from the source for `slotId`. */
  | { ev: 'pop'; taskId: string; slotId: string }
  /** A poll whose time limit passed after its claim: the task went back to the source. */
  | { ev: 'poll-abandoned'; taskId: string; handedBack: boolean }
  /** The store saved the occupancy (the scheduler's `task:start`), before `startCallback`. */
  | ({ ev: 'occupied'; backend: string } & TaskRef)
  /**
   * `startCallback` ran. `begun` is false when the source no longer had the task claimed by this
   * process: it was then not executed, only stopped. `inProcess`: its backend `runsInProcess`.
   */
  | ({ ev: 'start-callback'; backend: string; inProcess: boolean; begun: boolean } & TaskRef)
  /** The task sends a keepalive from this process. */
  | ({ ev: 'keepalive' } & TaskRef)
  /** The task's work began; for a Procrastinate job, with the `attempts` its handler was given. */
  | ({ ev: 'exec-start'; attempts?: number } & TaskRef)
  /**
   * The task's work ended. `lastGo` is the time of its last look at its signal that let it go on
   * (null if none did): no step began after it.
   */
  | ({ ev: 'exec-end'; outcome: ExecOutcome; steps: number; lastGo: number | null } & TaskRef)
  /** The task's signal fired (or was found fired), with its cause. */
  | ({ ev: 'abort'; cause: string } & TaskRef)
  /** The task calls `stop()`. */
  | ({ ev: 'stop-call' } & TaskRef)
  /** What `stop()` answered, or the error it threw. */
  | ({ ev: 'stop-result'; ok: boolean; reason?: string; error?: string } & TaskRef)
  /** `stopCallback` began: the end of an occupancy was delivered here. */
  | ({ ev: 'stop-callback'; reason: string; owner: string; redelivered: boolean } & TaskRef)
  /** `stopCallback` finished; `requeued` if it gave the task back to the source. */
  | ({ ev: 'stop-callback-done'; requeued: boolean } & TaskRef)
  /**
   * `rejectCallback`: a polled task was not started; `handedBack` if the source took it back.
   * `injected`: the id of a `dup-poll`, which this process never claimed: nothing to give back.
   */
  | { ev: 'reject'; taskId: string; slotId: string; reason: string; retryAfterMs: number | null; handedBack: boolean; injected?: boolean }
  /** A poll returned, on the harness's order, the id of a task that holds a slot (run by `holder`), unclaimed. */
  | { ev: 'dup-poll'; taskId: string; slotId: string; holder: number }
  /** A backend call misbehaves now, on the harness's order (harness/control.ts). */
  | { ev: 'misbehave'; call: MisbehavingCall; how: Misbehaviour; slotId: string; taskId: string | null; token: number | null }
  /** The scheduler's `poll:error`: a poll threw, hung or returned nonsense (`timeout`: past pollTimeout). */
  | { ev: 'poll-error'; slotId: string; backend: string; timeout: boolean; error: string }
  /** The scheduler's `callback:error`: a callback threw, rejected or hung (`timeout`: past callbackTimeout). */
  | { ev: 'callback-error'; callback: string; taskId: string; timeout: boolean; error: string }
  /** The scheduler's `task:stop`: the callbacks of an end ran here (or were given up on); its acknowledgement is queued. */
  | ({ ev: 'delivered'; reason: string; redelivered: boolean } & TaskRef)
  /** The sweep gave back a task claimed, or run, by a process that no longer exists. */
  | { ev: 'swept'; taskId: string; deadPid: number; held: 'claim' | 'run' }
  /** A task blocks the event loop of this process (the `block` fault), and when it lets go. */
  | { ev: 'block-start'; ms: number }
  | { ev: 'block-end' }
  /** The process kills itself with SIGKILL now, at the phase the harness armed. */
  | { ev: 'dying'; phase: string }
  /** A pass failed (the store away, say): counted, not a violation. */
  | { ev: 'pass-error'; error: string }
  /** Something the worker could not handle: always a violation. */
  | { ev: 'fatal'; error: string }
  /** The scheduler closed at the end of the run. */
  | { ev: 'closed' }
  /**
   * A soak worker's look at itself (harness/self-sampler.ts): heap after a forced GC, memory and
   * open handles by kind now; errors and tasks started since the process began; `running`: tasks
   * started here whose end has not been delivered here (in a run without faults, those under way).
   */
  | {
      ev: 'sample';
      heapUsed: number;
      rss: number;
      external: number;
      arrayBuffers: number;
      handles: Record<string, number>;
      errors: { pass: number; poll: number; callback: number };
      tasksStarted: number;
      running: number;
    }
  /** This process's Procrastinate worker id (`procrastinate_workers.id`), once registered (again). */
  | { ev: 'procrastinate-worker'; workerId: string };

/** The faults the harness injects. */
export type FaultName =
  'kill' | 'stop' | 'block' | 'restart' | 'freeze' | 'failover' | 'master-kill' | 'poll' | 'callback' | 'duplicate' | 'cancel';

/** The lines the harness writes. */
export type HarnessEvent =
  /** The first line of a run: what it runs, so that the journal alone says how to replay it. */
  | { ev: 'run'; scenario: string; seed: number; store: string; slots: number; workers: number }
  /** Task ids pushed into the source. */
  | { ev: 'feed'; taskIds: string[] }
  /** The harness stopped feeding: from now on the source drains. */
  | { ev: 'feed-stop' }
  /** A worker process started (`replaces`: the pid it stands in for). */
  | { ev: 'spawn'; child: number; replaces: number | null }
  /** A worker process exited. */
  | { ev: 'exit'; child: number; code: number | null; signal: string | null }
  /**
   * A fault: `kill` (SIGKILL now, or `arm-kill`: the worker kills itself at `phase`), `stop` and
   * `cont` (SIGSTOP, SIGCONT), `block` (a task of the worker blocks its event loop for `ms`),
   * `restart-begin` and `restart-end` (the store down, then back: `stateLoss` when it comes back
   * empty), `freeze` and `thaw` (every process of the store stopped, then resumed); on a Redis
   * Cluster, `failover-begin` and `failover-end` (CLUSTER FAILOVER of the master of the scheduler's
   * hash slot, until every node agrees on its replica), `master-kill-begin` and `master-kill-end`
   * (SIGKILL of that master, until its replica is promoted: `stateLoss`, since writes it had not
   * yet replicated are gone); `misbehave` (the worker's next `call` misbehaves as `how`),
   * `duplicate` (its next poll returns the id of a task that holds a slot).
   */
  | {
      ev: 'fault';
      fault:
        | 'kill'
        | 'arm-kill'
        | 'stop'
        | 'cont'
        | 'block'
        | 'restart-begin'
        | 'restart-end'
        | 'freeze'
        | 'thaw'
        | 'failover-begin'
        | 'failover-end'
        | 'master-kill-begin'
        | 'master-kill-end'
        | 'misbehave'
        | 'duplicate';
      target: number | 'store';
      phase?: string;
      ms?: number;
      mode?: string;
      stateLoss?: boolean;
      call?: MisbehavingCall;
      how?: Misbehaviour;
    }
  /** The harness asks the store, from a scheduler of its own, to cancel a task (`token`: that occupancy only). */
  | { ev: 'cancel'; taskId: string; token: number | null; fed: boolean }
  /**
   * What `cancel()` answered: ok (`token` the occupancy flagged, `alreadyRequested`), or not ok
   * with `reason` (and `token`, `endReason` where the store still knows the task), or the error it
   * threw (the store away).
   */
  | {
      ev: 'cancel-result';
      taskId: string;
      asked: number | null;
      ok: boolean;
      token?: number;
      reason?: string;
      endReason?: string;
      alreadyRequested?: boolean;
      error?: string;
    }
  /** The last fault is over: the fleet must recover from here. */
  | { ev: 'faults-done' }
  /** What the source still holds at the end: ids not done, with their state. */
  | { ev: 'source-final'; notDone: Array<{ taskId: string; state: string }> }
  /** The run is over. */
  | { ev: 'end'; drained: boolean }
  /** A soak drained and settled: samples from here on show the fleet idle again. */
  | { ev: 'idle' }
  /** A soak's look at the slot store (soak/store-sampler.ts): named counts and sizes, by store. */
  | { ev: 'store-sample'; figures: Record<string, number> }
  /** Procrastinate jobs deferred through SQL, as Python defers them. */
  | { ev: 'defer'; jobs: Array<{ id: string; task: string }> }
  /**
   * Python's stalled-job recipe retried these `doing` jobs (attempts + 1): their worker was gone
   * or silent. `workerId` is the worker that held each, `attempts` its count before the retry.
   */
  | { ev: 'recovered'; jobs: Array<{ id: string; workerId: string | null; attempts: number }> }
  /**
   * The `doing` rows of the run's queue, as one query saw them: sent at `sentAt` (monotonic ns),
   * answered at the line's time; each row is [job id, worker id].
   */
  | { ev: 'doing-sample'; sentAt: number; rows: Array<[string, string | null]> }
  /**
   * Every job of the run's queue as the tables show it: once drained (the fleet still up) and once
   * the fleet closed. `now` is the database's clock (epoch ms), for `scheduledAt`.
   */
  | { ev: 'jobs-final'; phase: 'drained' | 'closed'; now: number; jobs: FinalJob[] };

/** A job's row and history at the end of a Procrastinate run. */
export interface FinalJob {
  id: string;
  task: string;
  status: string;
  attempts: number;
  workerId: string | null;
  /** Epoch ms, or null. */
  scheduledAt: number | null;
  /** Its event types, oldest first. */
  events: string[];
}

export type JournalEvent = LineBase & (WorkerEvent | HarnessEvent);

/** One kind of journal line, by its `ev`. */
export type EventOf<K extends JournalEvent['ev']> = Extract<JournalEvent, { ev: K }>;
