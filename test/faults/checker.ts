/**
 * The checker of a fault run: a pure function from the journal (what every process wrote outside
 * the slot store) to the violations it proves, by kind, and the run's figures. It trusts no
 * process's view of itself: every rule is judged on lines written by the tasks, the callbacks and
 * the harness, merged on the machine's monotonic clock. test/faults/README.md states the rules.
 */
import { checkCancels, checkDuplicates, checkMisbehaviours } from './checker-calls.js';
import { buildModel, type Execution, type OccupancyInfo, type RunModel } from './checker-model.js';
import type { JournalEvent } from './harness/events.js';

export type ViolationKind =
  /** More executions, or occupancies, at once than there are slots (excused overlaps aside). */
  | 'over-capacity'
  /** Two executions in one slot at once, excused by no stall or state loss. */
  | 'slot-overlap'
  /** One task id executing twice at once, excused by no stall or state loss. */
  | 'task-overlap'
  /** A slot given to a new occupancy while the previous one was held by a live task that had not been told. */
  | 'occupancy-overlap'
  /** In one slot, an occupancy whose token does not exceed the previous one's. */
  | 'token-order'
  /** An occupancy that never got its stopCallback. */
  | 'stop-callback-missing'
  /** An occupancy whose stopCallback ran twice, the second not a redelivery after its first deliverer died. */
  | 'stop-callback-twice'
  /** A stopCallback whose reason (or slot) contradicts what happened to the task. */
  | 'wrong-end-reason'
  /** An occupancy ended `stopped` though its own task never called stop(): someone else's stop freed it. */
  | 'late-stop'
  /** A stopCallback for an occupancy nothing started, with no kill or store fault to explain it. */
  | 'orphan-stop-callback'
  /** A task started for a claim its process no longer held. */
  | 'stale-start'
  /** A polled task that could not be handed back to the source (the claim had changed hands). */
  | 'hand-back-refused'
  /** A task id fed to the source and never completed. */
  | 'lost-task'
  /** A task id completed twice. */
  | 'completed-twice'
  /** An execution that never ended in a process that was not killed. */
  | 'exec-unfinished'
  /** A worker that failed on its own (an uncaught error, an unexpected exit). */
  | 'worker-crash'
  /** After the last fault, the fleet did not run `slots` tasks at once again in time. */
  | 'liveness'
  /** Procrastinate (procrastinate-checker.ts): more `doing` rows of live, awake workers than slots. */
  | 'doing-over-slots'
  /** Procrastinate: a job still `doing` once the queue drained, under a live worker. */
  | 'doing-at-end'
  /** Procrastinate: a job `doing` whose worker is gone (dead, unregistered), once drained or closed. */
  | 'doing-without-worker'
  /** Procrastinate: a job deferred and not in the table at the end. */
  | 'job-lost'
  /** Procrastinate: a job left due in `todo` once the queue drained. */
  | 'job-not-drained'
  /** Procrastinate: a job whose end status the journal does not explain (its handler, its task's retry policy, a lost slot). */
  | 'wrong-status'
  /** Procrastinate: a job whose `attempts` does not count its real tries (a hand-back added one, a try was not counted). */
  | 'dishonest-attempts'
  /** A poll or callback that threw, rejected or hung, not reported as `poll:error` or `callback:error`. */
  | 'misbehaviour-unreported'
  /** A poll that returned the id of a task holding a slot, neither refused as `duplicate` (with `retryAfterMs`) nor otherwise answered. */
  | 'duplicate-not-refused'
  /** A cancel answered against what README says (an id never fed not `unknown`, an ended occupancy flagged, another token). */
  | 'wrong-cancel-answer'
  /** A task whose cancel was answered ok worked on past the bound without its signal telling it. */
  | 'cancel-ignored'
  /** A task that honoured a cancel (recorded cancelled) completed, or started again, afterwards. */
  | 'ran-after-cancel';

export interface Violation {
  kind: ViolationKind;
  /** Milliseconds from the first line of the run. */
  at: number;
  message: string;
}

/** An overlap the project documents and the checker counts apart: a stalled process, or a store that lost its state. */
export interface Overrun {
  taskId: string;
  token: number;
  slotId: string;
  pid: number;
  /** How long it overlapped the other execution. */
  overlapMs: number;
  /** How long after waking (or the store's return) it took to stop. */
  noticeMs: number;
}

export interface CheckConfig {
  slots: number;
  /** The most the fleet may take, after the last fault, to run `slots` tasks at once again. */
  recoveryBoundMs: number;
  /**
   * Whether an end whose delivering process was killed must be delivered again elsewhere
   * (at-least-once stopCallbacks). Until then, such ends (and the tasks they would have queued
   * again) are counted apart.
   */
  requireRedelivery: boolean;
}

export interface Figures {
  durationMs: number;
  fed: number;
  completed: number;
  executions: number;
  occupancies: number;
  /**
   * Faults injected, by kind: kills by phase (`kill:now`, or armed: `kill:poll`, `kill:started`,
   * `kill:stop`; `kill:fallback` counts armed ones killed anyway, not having reached their phase).
   */
  faults: Record<string, number>;
  processesKilled: number;
  stopCallbacks: Record<string, number>;
  rejects: Record<string, number>;
  fenced: number;
  maxConcurrent: number;
  /** From the end of the last fault to `slots` tasks running at once again; null if never. */
  recoveryMs: number | null;
  /** The same, after the end of each fault the next fault did not cut short. */
  recoveriesMs: number[];
  /** Faults followed by another before the fleet had recovered: no recovery time of their own. */
  recoveriesInterrupted: number;
  /** Ends delivered again, `redelivered`, after their deliverer died or stalled (at-least-once). */
  redeliveries: number;
  /** Tasks that honoured a cancel: the source recorded them cancelled. */
  cancelled: number;
  /** Whether every task fed was done by the end of the run. */
  drained: boolean;
  passErrors: number;
  swept: number;
}

export interface CheckReport {
  violations: Violation[];
  byKind: Partial<Record<ViolationKind, number>>;
  tolerated: {
    stallOverruns: Overrun[];
    /**
     * Stall overruns of tasks whose lease their process did not judge (not in process, and never
     * renewed from there before the stall): as README's "Cut off from the store" says, such a task
     * is left to the store, and learns at its next keepalive or its process's next pass after
     * waking, not at its first look. It must stop at its first look after that.
     */
    unjudgedOverruns: Overrun[];
    stateLossOverruns: Overrun[];
    /** Ends not delivered because their deliverer was killed (see `requireRedelivery`). */
    undeliveredAfterKill: number;
    /** Tasks never completed because the end that would have queued them again died with its deliverer. */
    lostWithKilledDeliverer: number;
    /** Occupancies the store lost with their process or start, whose end nobody can deliver. */
    lostWithState: number;
    /** Ends of occupancies started in the store but never seen started (a kill, a store failure mid-start). */
    orphanEnds: number;
    /**
     * A second end, `lost`, from the process that started the task: another process had ended it
     * (a timeout while the process stalled), and the store lost its state, record of that end
     * included, before the process learnt of it.
     */
    secondEndAfterStateLoss: number;
    /**
     * Polls returning, on order, the id of a task holding a slot, which the store started all
     * the same: its holder had ended in between (the start is then refused by the task source).
     */
    duplicateAfterHolderEnded: number;
  };
  figures: Figures;
}

/** Checks a merged journal (sorted by time) against the rules; returns every violation found. */
export function checkRun(events: readonly JournalEvent[], config: CheckConfig): CheckReport {
  const model = buildModel(events);
  const report: CheckReport = {
    violations: [],
    byKind: {},
    tolerated: {
      stallOverruns: [],
      unjudgedOverruns: [],
      stateLossOverruns: [],
      undeliveredAfterKill: 0,
      lostWithKilledDeliverer: 0,
      lostWithState: 0,
      orphanEnds: 0,
      secondEndAfterStateLoss: 0,
      duplicateAfterHolderEnded: 0,
    },
    figures: emptyFigures(model),
  };
  const violate = (kind: ViolationKind, at: number, message: string) => {
    report.violations.push({ kind, at: Math.round(at - model.origin), message });
    report.byKind[kind] = (report.byKind[kind] ?? 0) + 1;
  };
  const lastAt = events.length > 0 ? events[events.length - 1]!.t / 1e6 : 0;

  const clipAt = checkOverlaps(model, report, violate, lastAt);
  checkCapacity(model, config, report, violate, clipAt, lastAt);
  checkOccupancies(model, config, report, violate);
  checkTasks(model, config, report, violate);
  checkProcesses(model, violate);
  checkLiveness(model, config, report, violate, clipAt, lastAt);
  checkMisbehaviours(model, violate);
  checkDuplicates(model, report, violate);
  checkCancels(model, config, violate);
  return report;
}

export type Violate = (kind: ViolationKind, at: number, message: string) => void;

const describe = (e: Execution) => `${e.taskId} token ${e.token} in slot ${e.slotId} (pid ${e.pid})`;

/**
 * Overlapping executions, in one slot or of one task id. An overlap is excused (and counted apart)
 * when the earlier execution's process was stalled past the slot's lease and its task did not take
 * another step after waking, or when the store lost its state between the two starts and the
 * earlier task's end says `lost`. Returns, for each excused execution, when its overlap began:
 * from there it no longer counts against the slots.
 */
function checkOverlaps(model: RunModel, report: CheckReport, violate: Violate, lastAt: number): Map<string, number> {
  const clipAt = new Map<string, number>();
  // An execution told to stop at its first look did no work (zero length): it overlaps nothing.
  const byStart = model.executions.filter((e) => e.end === null || e.end > e.start).sort((a, b) => a.start - b.start);
  const endOf = (e: Execution) => e.end ?? lastAt;
  for (const [kind, groupOf] of [
    ['slot-overlap', (e: Execution) => e.slotId],
    ['task-overlap', (e: Execution) => e.taskId],
  ] as const) {
    const active = new Map<string, Execution[]>();
    for (const later of byStart) {
      const group = groupOf(later);
      const running = (active.get(group) ?? []).filter((e) => endOf(e) > later.start);
      for (const earlier of running) {
        const excuse = excuseOf(model, earlier, later, endOf(earlier));
        if (typeof excuse === 'string') {
          violate(kind, later.start, `${describe(later)} started while ${describe(earlier)} was executing: ${excuse}`);
          continue;
        }
        const list = {
          stall: report.tolerated.stallOverruns,
          unjudged: report.tolerated.unjudgedOverruns,
          'state-loss': report.tolerated.stateLossOverruns,
        }[excuse.kind];
        if (!list.some((o) => o.taskId === earlier.taskId && o.token === earlier.token)) list.push(excuse.overrun);
        clipAt.set(earlier.key, Math.min(clipAt.get(earlier.key) ?? Infinity, later.start));
      }
      running.push(later);
      active.set(group, running);
    }
  }
  return clipAt;
}

/** Why `earlier` may still execute when `later` starts, or why not (a string). */
function excuseOf(
  model: RunModel,
  earlier: Execution,
  later: Execution,
  earlierEnd: number,
): { kind: 'stall' | 'unjudged' | 'state-loss'; overrun: Overrun } | string {
  const occupancy = model.occupancies.get(earlier.key);
  const since = occupancy?.since ?? earlier.start;
  const overrun = (wokeAt: number): Overrun => ({
    taskId: earlier.taskId,
    token: earlier.token,
    slotId: earlier.slotId,
    pid: earlier.pid,
    overlapMs: Math.round(Math.min(earlierEnd, later.end ?? earlierEnd) - later.start),
    noticeMs: Math.round(Math.max(0, earlierEnd - wokeAt)),
  });
  const endedLost = occupancy?.abort?.cause === 'lost' || occupancy?.stopCallbacks.some((d) => d.reason === 'lost') === true;
  // The last loss before the later start, during the earlier occupancy: the one that freed the slot.
  const loss = model.storeFaults.filter((f) => f.stateLoss && f.to > since && f.from < later.start).sort((a, b) => b.from - a.from)[0];
  if (loss && endedLost) return { kind: 'state-loss', overrun: overrun(loss.to) };
  // The stall that came last before the later start, during the earlier occupancy.
  const stall = model.stalls
    .filter((s) => s.pid === earlier.pid && s.from < later.start && s.to > since)
    .sort((a, b) => b.from - a.from)[0];
  if (!stall)
    return loss
      ? 'the store lost its state, but the earlier task never learnt it (no lost end)'
      : 'no stall of its process or state loss of the store excuses it';
  const cause = occupancy?.abort?.cause;
  if (earlier.outcome === 'aborted' && cause !== 'lost' && cause !== 'timeout')
    return `after the ${stall.kind} the task was told ${String(cause)}, not lost or timeout`;
  if (earlier.lastGo === null || earlier.lastGo < stall.to) return { kind: 'stall', overrun: overrun(stall.to) };
  const wentOn = `its process woke from a ${stall.kind} at ${Math.round(stall.to - model.origin)} ms and the task went on (last step at ${Math.round(earlier.lastGo - model.origin)} ms)`;
  // Not judged by its process: it is told by its next keepalive or its process's next pass, and must stop at its next look.
  const unjudged = occupancy?.inProcess === false && !occupancy.keepalives.some((at) => at < stall.from);
  const told = occupancy?.abort;
  // Told after its last step (aborted), or not before it and then refused at the resource by its
  // token (fenced): it went on only until its next look.
  const stoppedAtItsLook =
    earlier.outcome === 'aborted'
      ? !!told && earlier.lastGo <= told.at
      : earlier.outcome === 'fenced' && (!told || earlier.lastGo <= told.at);
  if (unjudged && stoppedAtItsLook) return { kind: 'unjudged', overrun: overrun(stall.to) };
  return unjudged ? `${wentOn} after it was told` : wentOn;
}

/** Start (+1) and end (-1) points of intervals, ends first at equal times; the running count at each. */
function sweep(intervals: ReadonlyArray<readonly [number, number]>): Array<{ at: number; count: number }> {
  const points = intervals.flatMap(([from, to]) => (to > from ? [[from, 1] as const, [to, -1] as const] : []));
  points.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let count = 0;
  return points.map(([at, delta]) => ({ at, count: (count += delta) }));
}

/** Never more executions, nor occupancies, at once than slots (excused executions count until their overlap). */
function checkCapacity(
  model: RunModel,
  config: CheckConfig,
  report: CheckReport,
  violate: Violate,
  clipAt: Map<string, number>,
  lastAt: number,
): void {
  const executions = model.executions.map((e) => [e.start, Math.min(e.end ?? lastAt, clipAt.get(e.key) ?? Infinity)] as const);
  const occupancies = [...model.occupancies.values()]
    .filter((o) => o.since !== null)
    .map((o) => [o.since!, releasedAt(model, o, lastAt)] as const);
  for (const [what, intervals] of [
    ['executions', executions],
    ['occupancies', occupancies],
  ] as const) {
    let over = false;
    for (const { at, count } of sweep(intervals)) {
      if (what === 'executions') report.figures.maxConcurrent = Math.max(report.figures.maxConcurrent, count);
      if (count > config.slots && !over) violate('over-capacity', at, `${count} ${what} at once on ${config.slots} slots`);
      over = count > config.slots;
    }
  }
}

/**
 * The earliest evidence that an occupancy no longer holds its slot, or that its holder cannot
 * know it: its own stop(), its signal, a lapsed start, its process's death or stall, its end's
 * delivery, or a loss of the store's state.
 */
export function releasedAt(model: RunModel, o: OccupancyInfo, lastAt: number): number {
  const since = o.since ?? 0;
  const pid = o.pid ?? -1;
  const candidates = [
    ...o.stopCalls,
    o.abort?.at,
    o.lapsedAt,
    model.processes.get(pid)?.deathAt,
    ...model.stalls.filter((s) => s.pid === pid && s.to > since).map((s) => Math.max(s.from, since)),
    o.stopCallbacks[0]?.at,
    ...model.storeFaults.filter((f) => f.stateLoss && f.to > since).map((f) => Math.max(f.from, since)),
  ].filter((at): at is number => typeof at === 'number');
  return candidates.length > 0 ? Math.min(...candidates) : lastAt;
}

/** Whether process `pid` died, or stalled, after `at`. */
const diedOrStalledAfter = (model: RunModel, pid: number, at: number) =>
  (deathOf(model, pid) ?? -Infinity) >= at || model.stalls.some((s) => s.pid === pid && s.to > at);

/** Whether occupancy `o` holds an id its process's poll returned on a `duplicate` order (never claimed there). */
const isInjectedDuplicate = (model: RunModel, o: OccupancyInfo) =>
  model.dupPolls.some((d) => d.pid === o.pid && d.taskId === o.taskId && d.slotId === o.slotId && d.at <= (o.since ?? Infinity));

/**
 * The reasons an occupancy whose own stop() answered ok may end with: `cancelled` once a cancel of
 * it was answered ok before the stop was called, `stopped` when no cancel may have flagged it,
 * either while a cancel was under way (asked before the stop's answer, answered after its call).
 */
function stopReasonsAllowed(model: RunModel, o: OccupancyInfo): string[] {
  const stopCall = o.stopCalls[0] ?? Infinity;
  const answeredAt = o.stopResult ? o.stopResult.t / 1e6 : Infinity;
  const mine = model.cancels.filter((c) => c.taskId === o.taskId && (c.asked === null || c.asked === o.token) && c.at < answeredAt);
  if (mine.some((c) => c.result?.ok === true && c.result.token === o.token && c.result.at < stopCall)) return ['cancelled'];
  const maybe = mine.some((c) => c.result === null || c.result.error !== undefined || (c.result.ok && c.result.token === o.token));
  return maybe ? ['stopped', 'cancelled'] : ['stopped'];
}

export const deathOf = (model: RunModel, pid: number | null) => (pid === null ? null : (model.processes.get(pid)?.deathAt ?? null));
const deathAfter = (model: RunModel, at: number) => [...model.processes.values()].some((p) => p.deathAt !== null && p.deathAt >= at);
/**
 * Whether the store lost its state between `from` and `to`. The loss happens at some moment of the
 * restart (the harness writes its line just before the shutdown), so any overlap counts.
 */
export const stateLossBetween = (model: RunModel, from: number, to: number) =>
  model.storeFaults.some((f) => f.stateLoss && f.from <= to && f.to >= from);

/** One stopCallback per occupancy, with the right reason, in its slot; slots change hands in token order, never under a live task. */
function checkOccupancies(model: RunModel, config: CheckConfig, report: CheckReport, violate: Violate): void {
  const started = [...model.occupancies.values()].filter((o) => o.since !== null).sort((a, b) => a.since! - b.since!);
  const previousInSlot = new Map<string, OccupancyInfo[]>();
  for (const o of started) {
    const earlier = previousInSlot.get(o.slotId) ?? [];
    const last = earlier[earlier.length - 1];
    if (last && o.token <= last.token)
      violate('token-order', o.since!, `${o.taskId} got token ${o.token} in slot ${o.slotId} after token ${last.token}`);
    for (const held of earlier) {
      if (releasedAt(model, held, Infinity) > o.since!) {
        violate(
          'occupancy-overlap',
          o.since!,
          `slot ${o.slotId} went to ${o.taskId} (token ${o.token}) while ${held.taskId} (token ${held.token}, pid ${String(held.pid)}) held it, alive and untold`,
        );
      }
    }
    // Only the occupancies still possibly held matter to the next ones.
    previousInSlot.set(o.slotId, [...earlier.filter((held) => releasedAt(model, held, Infinity) > o.since!), o]);
    if (o.begun === false && !isInjectedDuplicate(model, o))
      violate(
        'stale-start',
        o.startCallbackAt!,
        `${o.taskId} (token ${o.token}) started in pid ${String(o.pid)}, which no longer held its claim`,
      );
    checkEnd(model, config, report, violate, o);
  }
  for (const o of model.occupancies.values()) {
    if (o.since !== null) continue;
    const end = o.stopCallbacks[0]!;
    const explained =
      (end.reason === 'timeout' || end.reason === 'lost') && (deathAfter(model, 0) || model.storeFaults.some((f) => f.from < end.at));
    if (explained) report.tolerated.orphanEnds++;
    else
      violate(
        'orphan-stop-callback',
        end.at,
        `${o.taskId} (token ${o.token}) ended ${end.reason} in slot ${o.slotId}, but nothing started it`,
      );
  }
  for (const reject of model.rejects) {
    // An injected duplicate was never claimed by its poller: there is nothing to give back.
    if (reject.ev === 'reject' && reject.injected === true) continue;
    if (!reject.handedBack)
      violate(
        'hand-back-refused',
        reject.t / 1e6,
        `${reject.taskId} (${reject.ev === 'reject' ? reject.reason : 'abandoned poll'}) could not be handed back by pid ${reject.pid}`,
      );
  }
}

/** The stopCallbacks of one started occupancy: exactly one, with a reason that fits what its task did. */
function checkEnd(model: RunModel, config: CheckConfig, report: CheckReport, violate: Violate, o: OccupancyInfo): void {
  const [first, ...again] = o.stopCallbacks;
  const name = `${o.taskId} (token ${o.token}, slot ${o.slotId}, pid ${String(o.pid)})`;
  if (!first) {
    const startedInDeadOrLapsed = deathOf(model, o.pid) !== null || o.lapsedAt !== null;
    if (startedInDeadOrLapsed && stateLossBetween(model, o.since!, Infinity)) report.tolerated.lostWithState++;
    else if (!config.requireRedelivery && deathAfter(model, o.since!)) report.tolerated.undeliveredAfterKill++;
    else violate('stop-callback-missing', o.since!, `${name} never got its stopCallback`);
    return;
  }
  for (const [i, delivery] of again.entries()) {
    const previous = o.stopCallbacks[i]!;
    // Its process had not learnt of the end when the store lost the record of it: it can only say lost.
    if (delivery.reason === 'lost' && delivery.pid === o.pid && stateLossBetween(model, previous.at, delivery.at)) {
      report.tolerated.secondEndAfterStateLoss++;
      continue;
    }
    // Delivered again only once the lease of the previous deliverer lapsed: it died (before its
    // acknowledgement went, which the journal cannot see) or stalled, or the store was frozen or
    // down while the acknowledgement was due, and the lease lapsed before it could land.
    const previousGone = diedOrStalledAfter(model, previous.pid, previous.at);
    const ackBlocked = model.storeFaults.some((f) => !f.stateLoss && f.from < delivery.at && f.to > previous.at);
    if (delivery.redelivered && (previousGone || ackBlocked)) report.figures.redeliveries++;
    else
      violate(
        'stop-callback-twice',
        delivery.at,
        `${name} ended again (${delivery.reason} in pid ${delivery.pid}${delivery.redelivered ? ', redelivered' : ''}) after ${previous.reason} in pid ${previous.pid}${previousGone ? '' : ', which lived on'}`,
      );
  }
  // At least once: an end whose deliverer died before it was through with the callbacks comes again.
  const last = o.stopCallbacks[o.stopCallbacks.length - 1]!;
  const through = model.journalsDeliveries ? last.deliveredAt : last.doneAt;
  const lastDiedMidway = through === null && (deathOf(model, last.pid) ?? -Infinity) >= last.at;
  if (config.requireRedelivery && lastDiedMidway && last.reason !== 'lost' && !stateLossBetween(model, last.at, Infinity)) {
    violate(
      'stop-callback-missing',
      last.at,
      `${name}: its end (${last.reason}) was delivered in pid ${last.pid}, which died mid-delivery, and never again`,
    );
  }
  const wrong = (why: string) => violate('wrong-end-reason', first.at, `${name} ended ${first.reason}: ${why}`);
  if (first.slotId !== o.slotId) wrong(`delivered for slot ${first.slotId}`);
  if ((first.reason === 'stopped' || first.reason === 'cancelled') && o.stopCalls.length === 0) {
    violate('late-stop', first.at, `${name} ended ${first.reason}, but its task never called stop(): another task's stop freed its slot`);
  }
  if (o.stopResult?.ok === true) {
    const expected = stopReasonsAllowed(model, o);
    if (!expected.includes(first.reason)) wrong(`its own stop() answered ok, so it must end ${expected.join(' or ')}`);
  }
  if (first.reason === 'lost' && !stateLossBetween(model, o.since!, first.at)) wrong('the store never lost its state meanwhile');
  const told = o.abort !== null && (o.abort.cause === 'timeout' || o.abort.cause === 'lost');
  if (told && o.stopCalls.length === 0 && first.reason !== 'timeout' && first.reason !== 'lost')
    wrong(`its task was told ${o.abort!.cause} and never stopped`);
}

/** Every task fed is completed exactly once. */
function checkTasks(model: RunModel, config: CheckConfig, report: CheckReport, violate: Violate): void {
  const byTask = new Map<string, OccupancyInfo[]>();
  for (const o of model.occupancies.values()) byTask.set(o.taskId, [...(byTask.get(o.taskId) ?? []), o]);
  const finalState = new Map(model.sourceFinal?.notDone.map((n) => [n.taskId, n.state]) ?? []);
  const endAt = model.end ? model.end.t / 1e6 : model.origin;
  for (const [taskId, completions] of model.completions) {
    if (completions.length > 1)
      violate('completed-twice', completions[1]!.end!, `${taskId} completed by ${completions.map(describe).join(' and by ')}`);
  }
  for (const [taskId, cancelledAt] of model.cancelledTasks) {
    const after = model.executions.find(
      (e) => e.taskId === taskId && (e.start > cancelledAt || (e.outcome === 'completed' && e.end! > cancelledAt)),
    );
    if (after)
      violate(
        'ran-after-cancel',
        after.start,
        `${taskId} honoured a cancel at ${Math.round(cancelledAt - model.origin)} ms, then ${describe(after)} ran (${String(after.outcome)})`,
      );
  }
  for (const taskId of model.fed) {
    if (model.completions.has(taskId) || model.cancelledTasks.has(taskId)) continue;
    const occupancies = (byTask.get(taskId) ?? []).sort((a, b) => a.token - b.token);
    const last = occupancies[occupancies.length - 1];
    // Its last end died with its deliverer (or was never delivered), so nothing queued it again.
    const endDied =
      last !== undefined &&
      (last.stopCallbacks.length === 0
        ? deathAfter(model, last.since ?? 0)
        : last.stopCallbacks.every((d) => d.doneAt === null && deathOf(model, d.pid) !== null));
    if (!config.requireRedelivery && endDied) {
      report.tolerated.lostWithKilledDeliverer++;
      continue;
    }
    const history = last
      ? `; last occupancy token ${last.token} in slot ${last.slotId}, ends: ${last.stopCallbacks.map((d) => d.reason).join(', ') || 'none'}`
      : '; never started';
    violate('lost-task', endAt, `${taskId} was fed and never completed (source state: ${finalState.get(taskId) ?? 'unknown'})${history}`);
  }
}

/** Workers fail only when killed; every execution of a live process ends. */
function checkProcesses(model: RunModel, violate: Violate): void {
  for (const info of model.processes.values()) {
    for (const error of info.fatal) violate('worker-crash', model.origin, `pid ${info.pid}: ${error.split('\n')[0]}`);
    if (info.deathAt === null && info.exitCode !== null && info.exitCode !== 0 && info.fatal.length === 0) {
      violate('worker-crash', model.origin, `pid ${info.pid} exited with code ${info.exitCode}`);
    }
  }
  for (const e of model.executions)
    if (e.end === null) violate('exec-unfinished', e.start, `${describe(e)} never ended, and its process was not killed`);
}

/**
 * After the last fault the fleet runs `slots` tasks at once again within the bound. A task counts
 * until its last step: one told to stop did no work after its last look. (That the source drains
 * is judged task by task: `lost-task`.)
 */
function checkLiveness(
  model: RunModel,
  config: CheckConfig,
  report: CheckReport,
  violate: Violate,
  clipAt: Map<string, number>,
  lastAt: number,
): void {
  const working = model.executions.map((e) => {
    const end = e.outcome === 'aborted' || e.outcome === 'cancelled' ? (e.lastGo ?? e.start) : (e.end ?? lastAt);
    return [e.start, Math.min(end, clipAt.get(e.key) ?? Infinity)] as const;
  });
  const timeline = sweep(working);
  /** When, at or after `from`, `slots` tasks next run at once; null if never. */
  const fullAt = (from: number): number | null => {
    let i = 0;
    let running = 0;
    while (i < timeline.length && timeline[i]!.at <= from) running = timeline[i++]!.count;
    if (running >= config.slots) return from;
    for (; i < timeline.length; i++) if (timeline[i]!.count >= config.slots) return timeline[i]!.at;
    return null;
  };
  const ends = model.faultEnds.map((f) => f.at).sort((a, b) => a - b);
  for (const { fault, at: end } of [...model.faultEnds].sort((a, b) => a.at - b.at)) {
    const full = fullAt(end);
    const next = model.faultStarts.filter((at) => at > end).sort((a, b) => a - b)[0];
    if (full === null || (next !== undefined && full > next)) {
      report.figures.recoveriesInterrupted++;
      continue;
    }
    report.figures.recoveriesMs.push(Math.round(full - end));
    // A misbehaving call holds no slot past its time limit and a reservation (README, pollTimeout,
    // callbackTimeout, reservationTimeout): unless another fault comes first, the fleet is full
    // again within the bound.
    if (fault === 'misbehave' && full - end > config.recoveryBoundMs) {
      violate(
        'liveness',
        end,
        `the fleet ran ${config.slots} tasks at once again ${Math.round(full - end)} ms after a misbehaving call, over the ${config.recoveryBoundMs} ms bound`,
      );
    }
  }
  // Judged once the harness said the faults were over (it then keeps feeding for the recovery window).
  if (ends.length > 0 && model.faultsDoneAt !== null) {
    const last = ends[ends.length - 1]!;
    const full = fullAt(last);
    const deadline = model.feedStopAt ?? lastAt;
    report.figures.recoveryMs = full === null ? null : Math.round(full - last);
    if (full === null || full > deadline)
      violate('liveness', last, `the fleet never ran ${config.slots} tasks at once after the last fault`);
    else if (full - last > config.recoveryBoundMs)
      violate(
        'liveness',
        last,
        `the fleet ran ${config.slots} tasks at once again ${Math.round(full - last)} ms after the last fault, over the ${config.recoveryBoundMs} ms bound`,
      );
  }
}

function emptyFigures(model: RunModel): Figures {
  const tally = (values: string[]) => values.reduce<Record<string, number>>((acc, v) => ((acc[v] = (acc[v] ?? 0) + 1), acc), {});
  const occupancies = [...model.occupancies.values()];
  return {
    durationMs: model.end ? Math.round(model.end.t / 1e6 - model.origin) : 0,
    fed: model.fed.size,
    completed: model.completions.size,
    executions: model.executions.length,
    occupancies: occupancies.length,
    faults: model.faultCounts,
    processesKilled: [...model.processes.values()].filter((p) => p.deathAt !== null).length,
    stopCallbacks: tally(occupancies.flatMap((o) => o.stopCallbacks.map((d) => d.reason))),
    rejects: tally(model.rejects.map((r) => (r.ev === 'reject' ? r.reason : 'abandoned-poll'))),
    fenced: model.executions.filter((e) => e.outcome === 'fenced').length,
    maxConcurrent: 0,
    recoveryMs: null,
    recoveriesMs: [],
    recoveriesInterrupted: 0,
    drained: model.end?.drained ?? false,
    redeliveries: 0,
    cancelled: model.cancelledTasks.size,
    passErrors: model.passErrors,
    swept: model.swept,
  };
}
