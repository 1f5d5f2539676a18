/**
 * The fault suite's checker on hand-made journals: each kind of violation is found, and each
 * overlap the project documents (a stalled process whose task stops at its first look, a task its
 * process did not judge, a store that lost its state) is counted apart, not as a violation.
 */
import test from 'ava';
import { checkRun, type CheckConfig, type ViolationKind } from './checker.js';
import type { HarnessEvent, JournalEvent, WorkerEvent } from './harness/events.js';

const harness = 1;
const config: CheckConfig = { slots: 1, recoveryBoundMs: 5000, requireRedelivery: false };

/** A journal under construction: lines at given milliseconds, sorted when read. */
class Journal {
  readonly events: JournalEvent[] = [];

  add(ms: number, pid: number, event: WorkerEvent | HarnessEvent): this {
    this.events.push({ t: ms * 1e6, pid, ...event } as JournalEvent);
    return this;
  }

  /** The lines of a start at `ms`: the store's occupancy, `startCallback`, the work's start. */
  start(ms: number, pid: number, taskId: string, token: number, slotId: string, inProcess = true): this {
    const ref = { taskId, token, slotId };
    return this.add(ms, pid, { ev: 'occupied', ...ref, backend: 'B' })
      .add(ms, pid, { ev: 'start-callback', ...ref, backend: 'B', inProcess, begun: true })
      .add(ms, pid, { ev: 'exec-start', ...ref });
  }

  /**
   * A task that runs from `from` to `to` in `slotId` and ends as told: `completed` (it stops and
   * ends `stopped`), `aborted` (told `cause`, ended with `reason` by `deliverer`), or `killed` (its
   * process dies at `to`, and `deliverer` reaps it with `timeout`).
   */
  task(
    pid: number,
    taskId: string,
    token: number,
    slotId: string,
    from: number,
    to: number,
    end:
      | { as: 'completed' }
      | { as: 'aborted'; cause: string; reason: string; lastGo?: number; deliverer?: number; at?: number }
      | { as: 'killed'; deliverer: number; at: number } = { as: 'completed' },
    inProcess = true,
  ): this {
    const ref = { taskId, token, slotId };
    this.start(from, pid, taskId, token, slotId, inProcess);
    if (end.as === 'completed') {
      return this.add(to, pid, { ev: 'exec-end', ...ref, outcome: 'completed', steps: 3, lastGo: to * 1e6 })
        .add(to, pid, { ev: 'stop-call', ...ref })
        .add(to + 1, pid, { ev: 'stop-callback', ...ref, reason: 'stopped', owner: `o${pid}`, redelivered: false })
        .add(to + 1, pid, { ev: 'stop-callback-done', ...ref, requeued: false })
        .add(to + 1, pid, { ev: 'stop-result', ...ref, ok: true, reason: 'stopped' });
    }
    if (end.as === 'killed') {
      return this.add(to, harness, { ev: 'fault', fault: 'kill', target: pid })
        .add(end.at, end.deliverer, { ev: 'stop-callback', ...ref, reason: 'timeout', owner: `o${pid}`, redelivered: false })
        .add(end.at, end.deliverer, { ev: 'stop-callback-done', ...ref, requeued: true });
    }
    const deliverer = end.deliverer ?? pid;
    return this.add(to - 1, pid, { ev: 'abort', ...ref, cause: end.cause })
      .add(to, pid, { ev: 'exec-end', ...ref, outcome: 'aborted', steps: 2, lastGo: (end.lastGo ?? from) * 1e6 })
      .add(end.at ?? to + 1, deliverer, { ev: 'stop-callback', ...ref, reason: end.reason, owner: `o${pid}`, redelivered: false })
      .add(end.at ?? to + 1, deliverer, { ev: 'stop-callback-done', ...ref, requeued: true });
  }

  feed(ms: number, ...taskIds: string[]): this {
    return this.add(ms, harness, { ev: 'feed', taskIds });
  }

  check(overrides: Partial<CheckConfig> = {}) {
    return checkRun(
      [...this.events].sort((a, b) => a.t - b.t),
      { ...config, ...overrides },
    );
  }
}

const kinds = (journal: Journal, overrides: Partial<CheckConfig> = {}): ViolationKind[] =>
  Object.keys(journal.check(overrides).byKind).sort() as ViolationKind[];

test('a run where each task runs alone in its slot, completes once and ends stopped has no violation', (t) => {
  const journal = new Journal().feed(0, 'a', 'b').task(10, 'a', 1, '1', 10, 100).task(11, 'b', 2, '1', 200, 300);
  const report = journal.check();
  t.deepEqual(report.violations, []);
  t.is(report.figures.completed, 2);
  t.is(report.figures.maxConcurrent, 1);
});

test('two executions in one slot at once, with no fault to excuse them, are a slot overlap and over capacity', (t) => {
  const journal = new Journal().feed(0, 'a', 'b').task(10, 'a', 1, '1', 10, 100).task(11, 'b', 2, '1', 50, 150);
  t.deepEqual(kinds(journal), ['occupancy-overlap', 'over-capacity', 'slot-overlap']);
});

test('one task id executing in two slots at once is a task overlap', (t) => {
  const journal = new Journal().feed(0, 'a').task(10, 'a', 1, '1', 10, 100).task(11, 'a', 2, '2', 50, 150);
  t.deepEqual(kinds(journal, { slots: 2 }), ['completed-twice', 'task-overlap']);
});

/** Task `a` in slot 1, its process 10 stopped from 100 to 300 ms while `b` takes the slot at 200 ms; `a` runs again later. */
function stalled(lastGo: number, inProcess = true, keepaliveBeforeStall = false): Journal {
  const journal = new Journal()
    .feed(0, 'a', 'b')
    .add(100, harness, { ev: 'fault', fault: 'stop', target: 10, ms: 200 })
    .add(300, harness, { ev: 'fault', fault: 'cont', target: 10 })
    .task(10, 'a', 1, '1', 50, 320, { as: 'aborted', cause: 'timeout', reason: 'timeout', lastGo, deliverer: 11, at: 190 }, inProcess)
    .task(11, 'b', 2, '1', 200, 400)
    .task(11, 'a', 3, '1', 500, 600);
  if (keepaliveBeforeStall) journal.add(80, 10, { ev: 'keepalive', taskId: 'a', token: 1, slotId: '1' });
  return journal;
}

test('a task of a stalled process that stops at its first look after waking is counted apart, with its overrun', (t) => {
  const report = stalled(90).check();
  t.deepEqual(report.violations, []);
  t.is(report.tolerated.stallOverruns.length, 1);
  t.like(report.tolerated.stallOverruns[0], { taskId: 'a', overlapMs: 120, noticeMs: 20 });
});

test('a task of a stalled process that takes a step after waking is a slot overlap', (t) => {
  const report = stalled(305).check();
  t.deepEqual(Object.keys(report.byKind).sort(), ['over-capacity', 'slot-overlap']);
  t.regex(report.violations.find((v) => v.kind === 'slot-overlap')!.message, /woke from a stop at 300 ms and the task went on/);
});

test('a task its process never renewed before the stall may go on until it is told, then must stop: counted apart', (t) => {
  // Told (the abort line) at 319 ms, after its step at 305 ms: its next look stopped it.
  const report = stalled(305, false).check();
  t.deepEqual(report.violations, []);
  t.is(report.tolerated.unjudgedOverruns.length, 1);
  // Renewed from its process before the stall, its lease was judged: the step after waking is a violation.
  t.true((stalled(305, false, true).check().byKind['slot-overlap'] ?? 0) > 0);
});

test('a task its process never judged, that finishes its work after waking and is refused at the resource by its token, is counted apart', (t) => {
  // Remote task a: stalled from 100 to 300 ms, reaped at 190 ms, b in its slot from 200 ms; a's
  // last step at 305 ms, then its completion is fenced (the source holds a later token).
  const fenced = (inProcess: boolean) =>
    new Journal()
      .feed(0, 'a', 'b')
      .add(100, harness, { ev: 'fault', fault: 'stop', target: 10, ms: 200 })
      .add(300, harness, { ev: 'fault', fault: 'cont', target: 10 })
      .start(50, 10, 'a', 1, '1', inProcess)
      .add(190, 11, { ev: 'stop-callback', taskId: 'a', token: 1, slotId: '1', reason: 'timeout', owner: 'o10', redelivered: false })
      .add(190, 11, { ev: 'stop-callback-done', taskId: 'a', token: 1, slotId: '1', requeued: true })
      .add(306, 10, { ev: 'exec-end', taskId: 'a', token: 1, slotId: '1', outcome: 'fenced', steps: 3, lastGo: 305e6 })
      .add(308, 10, { ev: 'abort', taskId: 'a', token: 1, slotId: '1', cause: 'lost' })
      .task(11, 'b', 2, '1', 200, 400)
      .task(11, 'a', 3, '1', 500, 600);
  const report = fenced(false).check();
  t.deepEqual(report.violations, []);
  t.is(report.tolerated.unjudgedOverruns.length, 1);
  // Its process judged its lease (in process): the step after waking is a violation.
  t.true((fenced(true).check().byKind['slot-overlap'] ?? 0) > 0);
});

test('an end delivered again because the store was frozen while its acknowledgement was due is a redelivery, not a second end', (t) => {
  const frozen = (freeze: boolean) => {
    const journal = new Journal().feed(0, 'a').task(10, 'a', 1, '1', 10, 100);
    if (freeze)
      journal
        .add(105, harness, { ev: 'fault', fault: 'freeze', target: 'store', ms: 4000 })
        .add(4105, harness, { ev: 'fault', fault: 'thaw', target: 'store' });
    return journal.add(4200, 11, {
      ev: 'stop-callback',
      taskId: 'a',
      token: 1,
      slotId: '1',
      reason: 'stopped',
      owner: 'o10',
      redelivered: true,
    });
  };
  const report = frozen(true).check({ requireRedelivery: true });
  t.deepEqual(report.violations, []);
  t.is(report.figures.redeliveries, 1);
  t.deepEqual(kinds(frozen(false)), ['stop-callback-twice']);
});

/** Task `a` running across a store restart at 100 ms, `b` in its slot at 200 ms, `a` ending as told and running again later. */
function acrossRestart(stateLoss: boolean, reason: string): Journal {
  return new Journal()
    .feed(0, 'a', 'b')
    .add(100, harness, { ev: 'fault', fault: 'restart-begin', target: 'store', stateLoss })
    .add(150, harness, { ev: 'fault', fault: 'restart-end', target: 'store' })
    .task(10, 'a', 1, '1', 50, 250, { as: 'aborted', cause: 'lost', reason, lastGo: 240 })
    .task(11, 'b', 2, '1', 200, 400)
    .task(11, 'a', 3, '1', 500, 600);
}

test('a task that runs on across a loss of the store state, until it learns it lost its slot, is counted apart', (t) => {
  const report = acrossRestart(true, 'lost').check();
  t.deepEqual(report.violations, []);
  t.is(report.tolerated.stateLossOverruns.length, 1);
});

test('across a restart that keeps the state (PostgreSQL), the same overlap is a violation, and an end said lost is wrong', (t) => {
  t.deepEqual(kinds(acrossRestart(false, 'lost')), ['occupancy-overlap', 'over-capacity', 'slot-overlap', 'wrong-end-reason']);
});

test('a slot given to a new occupancy while the previous task, done with its work, had not yet stopped is an occupancy overlap', (t) => {
  const journal = new Journal()
    .feed(0, 'a', 'b')
    .start(10, 10, 'a', 1, '1')
    .add(100, 10, { ev: 'exec-end', taskId: 'a', token: 1, slotId: '1', outcome: 'completed', steps: 1, lastGo: 100e6 })
    .add(300, 10, { ev: 'stop-call', taskId: 'a', token: 1, slotId: '1' })
    .add(301, 10, { ev: 'stop-callback', taskId: 'a', token: 1, slotId: '1', reason: 'stopped', owner: 'o', redelivered: false })
    .task(11, 'b', 2, '1', 200, 400);
  t.deepEqual(kinds(journal), ['occupancy-overlap', 'over-capacity']);
});

test('a later occupancy of a slot with a smaller token is a token-order violation', (t) => {
  const journal = new Journal().feed(0, 'a', 'b').task(10, 'a', 5, '1', 10, 100).task(11, 'b', 4, '1', 200, 300);
  t.deepEqual(kinds(journal), ['token-order']);
});

test('an occupancy without a stopCallback, in a process nobody killed, is a missing end', (t) => {
  const journal = new Journal().feed(0, 'a').task(10, 'a', 1, '1', 10, 100);
  journal.events.splice(
    journal.events.findIndex((e) => e.ev === 'stop-callback'),
    1,
  );
  t.deepEqual(kinds(journal), ['stop-callback-missing']);
});

test('an end whose deliverer was killed is counted apart until at-least-once delivery is required', (t) => {
  const journal = new Journal().feed(0, 'a').task(10, 'a', 1, '1', 10, 100).add(150, harness, { ev: 'fault', fault: 'kill', target: 10 });
  journal.events.splice(
    journal.events.findIndex((e) => e.ev === 'stop-callback'),
    1,
  );
  const report = journal.check();
  t.deepEqual(report.violations, []);
  t.is(report.tolerated.undeliveredAfterKill, 1);
  t.deepEqual(kinds(journal, { requireRedelivery: true }), ['stop-callback-missing']);
});

test('a second stopCallback is a violation unless it is a redelivery after its first deliverer died mid-callback', (t) => {
  const twice = new Journal()
    .feed(0, 'a')
    .task(10, 'a', 1, '1', 10, 100)
    .add(200, 11, { ev: 'stop-callback', taskId: 'a', token: 1, slotId: '1', reason: 'stopped', owner: 'o10', redelivered: false });
  t.deepEqual(kinds(twice), ['stop-callback-twice']);

  const redelivered = new Journal()
    .feed(0, 'a')
    .start(10, 10, 'a', 1, '1')
    .add(100, 10, { ev: 'exec-end', taskId: 'a', token: 1, slotId: '1', outcome: 'completed', steps: 1, lastGo: 100e6 })
    .add(100, 10, { ev: 'stop-call', taskId: 'a', token: 1, slotId: '1' })
    .add(101, 10, { ev: 'stop-callback', taskId: 'a', token: 1, slotId: '1', reason: 'stopped', owner: 'o10', redelivered: false })
    .add(102, harness, { ev: 'fault', fault: 'kill', target: 10 })
    .add(900, 11, { ev: 'stop-callback', taskId: 'a', token: 1, slotId: '1', reason: 'stopped', owner: 'o10', redelivered: true })
    .add(900, 11, { ev: 'stop-callback-done', taskId: 'a', token: 1, slotId: '1', requeued: false });
  t.deepEqual(redelivered.check({ requireRedelivery: true }).violations, []);
});

test('an end whose reason contradicts its task (a stop answered ok, ended timeout) is a wrong end reason', (t) => {
  const journal = new Journal().feed(0, 'a').task(10, 'a', 1, '1', 10, 100);
  const end = journal.events.find((e) => e.ev === 'stop-callback') as JournalEvent & { reason: string };
  end.reason = 'timeout';
  t.deepEqual(kinds(journal), ['wrong-end-reason']);
});

test('an occupancy ended stopped though its task never called stop() is a late stop', (t) => {
  const journal = new Journal().feed(0, 'a').task(10, 'a', 1, '1', 10, 100, { as: 'aborted', cause: 'timeout', reason: 'stopped' });
  t.true(kinds(journal).includes('late-stop'));
});

test('an end of an occupancy nothing started is an orphan, unless a kill or a store fault explains it', (t) => {
  const orphan = new Journal().add(50, 11, {
    ev: 'stop-callback',
    taskId: 'x',
    token: 9,
    slotId: '1',
    reason: 'stopped',
    owner: 'o',
    redelivered: false,
  });
  t.deepEqual(kinds(orphan), ['orphan-stop-callback']);
  const explained = new Journal()
    .add(10, harness, { ev: 'fault', fault: 'kill', target: 10 })
    .add(50, 11, { ev: 'stop-callback', taskId: 'x', token: 9, slotId: '1', reason: 'timeout', owner: 'o10', redelivered: false });
  const report = explained.check();
  t.deepEqual(report.violations, []);
  t.is(report.tolerated.orphanEnds, 1);
});

test('a task started for a claim its process no longer held is a stale start', (t) => {
  const journal = new Journal().feed(0, 'a').task(10, 'a', 1, '1', 10, 100);
  (journal.events.find((e) => e.ev === 'start-callback') as { begun: boolean }).begun = false;
  t.deepEqual(kinds(journal), ['stale-start']);
});

test('a polled task the source refused to take back is a hand-back violation', (t) => {
  const journal = new Journal().add(5, 10, {
    ev: 'reject',
    taskId: 'a',
    slotId: '1',
    reason: 'duplicate',
    retryAfterMs: 100,
    handedBack: false,
  });
  t.deepEqual(kinds(journal), ['hand-back-refused']);
});

test('a task fed and never completed is lost; one completed twice is run twice', (t) => {
  t.deepEqual(kinds(new Journal().feed(0, 'a', 'b').task(10, 'a', 1, '1', 10, 100)), ['lost-task']);
  t.deepEqual(kinds(new Journal().feed(0, 'a').task(10, 'a', 1, '1', 10, 100).task(11, 'a', 2, '1', 200, 300)), ['completed-twice']);
});

test('a task that lost its slot in a killed process is reaped elsewhere, queued again and completed: no violation', (t) => {
  const journal = new Journal()
    .feed(0, 'a')
    .task(10, 'a', 1, '1', 10, 100, { as: 'killed', deliverer: 11, at: 2100 })
    .add(101, harness, { ev: 'exit', child: 10, code: null, signal: 'SIGKILL' })
    .add(150, harness, { ev: 'faults-done' })
    .task(11, 'a', 2, '1', 2200, 2400);
  const report = journal.check();
  t.deepEqual(report.violations, []);
  t.is(report.figures.processesKilled, 1);
  t.is(report.figures.recoveryMs, 2100);
});

test('an execution that never ends in a live process is unfinished; in a killed one it ends at the kill', (t) => {
  const open = new Journal().feed(0, 'a').add(10, 10, { ev: 'exec-start', taskId: 'a', token: 1, slotId: '1' });
  t.true(kinds(open).includes('exec-unfinished'));
  const killed = new Journal()
    .add(10, 10, { ev: 'exec-start', taskId: 'a', token: 1, slotId: '1' })
    .add(50, harness, { ev: 'fault', fault: 'kill', target: 10 });
  t.false(kinds(killed).includes('exec-unfinished'));
});

test('a worker that fails on its own is a crash', (t) => {
  t.deepEqual(kinds(new Journal().add(10, 10, { ev: 'fatal', error: 'TypeError: boom' })), ['worker-crash']);
  t.deepEqual(kinds(new Journal().add(10, harness, { ev: 'exit', child: 10, code: 1, signal: null })), ['worker-crash']);
});

test('after the last fault, a fleet that does not run every slot at once again within the bound fails liveness', (t) => {
  // Killed at 100 ms, the next task runs only at 6000 ms: over the 5000 ms bound.
  const late = new Journal()
    .feed(0, 'a')
    .task(10, 'a', 1, '1', 10, 100, { as: 'killed', deliverer: 11, at: 5900 })
    .add(150, harness, { ev: 'faults-done' })
    .task(11, 'a', 2, '1', 6000, 6100)
    .add(7000, harness, { ev: 'feed-stop' });
  t.deepEqual(kinds(late), ['liveness']);
  const never = new Journal()
    .feed(0, 'a')
    .task(10, 'a', 1, '1', 10, 100)
    .add(200, harness, { ev: 'fault', fault: 'kill', target: 11 })
    .add(250, harness, { ev: 'faults-done' });
  t.deepEqual(kinds(never), ['liveness']);
});

test('the store losing its state at any moment of its restart (the harness writes its line just before the shutdown) explains a lost end', (t) => {
  // `a` starts 2 ms after the restart's first line, before the server has gone: it is lost with the rest.
  const journal = new Journal()
    .feed(0, 'a')
    .add(100, harness, { ev: 'fault', fault: 'restart-begin', target: 'store', stateLoss: true })
    .task(10, 'a', 1, '1', 102, 900, { as: 'aborted', cause: 'lost', reason: 'lost', lastGo: 880 })
    .add(800, harness, { ev: 'fault', fault: 'restart-end', target: 'store' })
    .task(11, 'a', 2, '1', 1000, 1100);
  t.deepEqual(journal.check().violations, []);
});

test('a second end, lost, from the process that started the task, after the store lost the record of its first end, is counted apart', (t) => {
  // `a`'s process stalls; another reaps and ends it (timeout); the store then loses its state, and
  // the woken process, finding the task unknown to the store, ends it lost.
  const journal = new Journal()
    .feed(0, 'a')
    .add(100, harness, { ev: 'fault', fault: 'stop', target: 10, ms: 3000 })
    .task(10, 'a', 1, '1', 50, 3110, { as: 'aborted', cause: 'timeout', reason: 'timeout', lastGo: 90, deliverer: 11, at: 2200 })
    .add(2500, harness, { ev: 'fault', fault: 'restart-begin', target: 'store', stateLoss: true })
    .add(2800, harness, { ev: 'fault', fault: 'restart-end', target: 'store' })
    .add(3100, harness, { ev: 'fault', fault: 'cont', target: 10 })
    .add(3300, 10, { ev: 'stop-callback', taskId: 'a', token: 1, slotId: '1', reason: 'lost', owner: 'o10', redelivered: false })
    .task(11, 'a', 2, '1', 3400, 3500);
  const report = journal.check();
  t.deepEqual(report.violations, []);
  t.is(report.tolerated.secondEndAfterStateLoss, 1);
  // Without the loss of state in between, the same second end is a violation.
  const kept = new Journal()
    .feed(0, 'a')
    .task(10, 'a', 1, '1', 50, 110, { as: 'aborted', cause: 'timeout', reason: 'timeout', deliverer: 11, at: 2200 });
  kept
    .add(3300, 10, { ev: 'stop-callback', taskId: 'a', token: 1, slotId: '1', reason: 'lost', owner: 'o10', redelivered: false })
    .task(11, 'a', 2, '1', 3400, 3500);
  t.true(kinds(kept).includes('stop-callback-twice'));
});

test('a task whose end died with a killed deliverer is counted apart, not lost, until redelivery is required', (t) => {
  // `a` was told lost (its store frozen); a process that then died reaped it; nobody delivered the end.
  const journal = new Journal().feed(0, 'a').start(10, 10, 'a', 1, '1');
  journal
    .add(500, 10, { ev: 'abort', taskId: 'a', token: 1, slotId: '1', cause: 'lost' })
    .add(520, 10, { ev: 'exec-end', taskId: 'a', token: 1, slotId: '1', outcome: 'aborted', steps: 9, lastGo: 490e6 })
    .add(900, harness, { ev: 'fault', fault: 'kill', target: 12 })
    .add(2000, harness, { ev: 'end', drained: false });
  const report = journal.check();
  t.deepEqual(report.violations, []);
  t.is(report.tolerated.lostWithKilledDeliverer, 1);
  t.false(report.figures.drained);
  t.deepEqual(kinds(journal, { requireRedelivery: true }), ['lost-task', 'stop-callback-missing']);
});

/** `acrossRestart`'s runs across a Redis Cluster fault of the master of the name's hash slot. */
function acrossClusterFault(fault: 'failover' | 'master-kill', reason: string): Journal {
  return new Journal()
    .feed(0, 'a', 'b')
    .add(100, harness, { ev: 'fault', fault: `${fault}-begin`, target: 'store', stateLoss: fault === 'master-kill' })
    .add(150, harness, { ev: 'fault', fault: `${fault}-end`, target: 'store', mode: '7001->7004' })
    .task(10, 'a', 1, '1', 50, 250, { as: 'aborted', cause: 'lost', reason, lastGo: 240 })
    .task(11, 'b', 2, '1', 200, 400)
    .task(11, 'a', 3, '1', 500, 600);
}

test('a killed cluster master may take unreplicated writes with it: the overlap until its task learns lost is counted apart', (t) => {
  const report = acrossClusterFault('master-kill', 'lost').check();
  t.deepEqual(report.violations, []);
  t.is(report.tolerated.stateLossOverruns.length, 1);
  t.is(report.figures.faults['master-kill'], 1);
});

test('a manual cluster failover loses nothing: the same overlap is a violation, and an end said lost is wrong', (t) => {
  t.deepEqual(kinds(acrossClusterFault('failover', 'lost')), ['occupancy-overlap', 'over-capacity', 'slot-overlap', 'wrong-end-reason']);
  t.is(acrossClusterFault('failover', 'lost').check().figures.faults.failover, 1);
});

test('a redelivery is allowed only after its first deliverer died or stalled, its work done or not; one not flagged redelivered is not', (t) => {
  const died = (redelivered: boolean) =>
    new Journal()
      .feed(0, 'a')
      .task(10, 'a', 1, '1', 10, 100)
      .add(110, harness, { ev: 'fault', fault: 'kill', target: 10 })
      .add(900, 11, { ev: 'stop-callback', taskId: 'a', token: 1, slotId: '1', reason: 'stopped', owner: 'o10', redelivered });
  const report = died(true).check({ requireRedelivery: true });
  t.deepEqual(report.violations, []);
  t.is(report.figures.redeliveries, 1);
  t.deepEqual(kinds(died(false)), ['stop-callback-twice']);
});

test('with redelivery required, an end whose deliverer died before it was through with the callbacks must come again', (t) => {
  const ref = { taskId: 'a', token: 1, slotId: '1' };
  const journal = new Journal()
    .feed(0, 'a')
    .start(10, 10, 'a', 1, '1')
    .add(100, 10, { ev: 'exec-end', ...ref, outcome: 'completed', steps: 1, lastGo: 100e6 })
    .add(100, 10, { ev: 'stop-call', ...ref })
    .add(101, 10, { ev: 'stop-callback', ...ref, reason: 'stopped', owner: 'o10', redelivered: false })
    .add(101, 10, { ev: 'stop-callback-done', ...ref, requeued: false })
    .add(102, harness, { ev: 'fault', fault: 'kill', target: 10 })
    // Another delivery, through with its callbacks: the journal has `delivered` lines.
    .task(11, 'b', 2, '2', 10, 50)
    .add(51, 11, { ev: 'delivered', taskId: 'b', token: 2, slotId: '2', reason: 'stopped', redelivered: false })
    .feed(0, 'b');
  t.deepEqual(kinds(journal, { requireRedelivery: true, slots: 2 }), ['stop-callback-missing']);
  journal
    .add(900, 11, { ev: 'stop-callback', ...ref, reason: 'stopped', owner: 'o10', redelivered: true })
    .add(901, 11, { ev: 'delivered', ...ref, reason: 'stopped', redelivered: true });
  t.deepEqual(kinds(journal, { requireRedelivery: true, slots: 2 }), []);
});

test('a misbehaving poll or callback must be reported, as a timeout when it hung or was slow', (t) => {
  const misbehave = (how: 'hang' | 'throw') =>
    new Journal()
      .feed(0, 'a')
      .task(10, 'a', 1, '1', 10, 100)
      .add(200, 10, { ev: 'misbehave', call: 'poll', how, slotId: '1', taskId: null, token: null });
  t.deepEqual(kinds(misbehave('hang')), ['misbehaviour-unreported']);
  const reported = (timeout: boolean) =>
    misbehave('hang').add(1200, 10, { ev: 'poll-error', slotId: '1', backend: 'B', timeout, error: 'did not settle' });
  t.deepEqual(kinds(reported(true)), []);
  t.deepEqual(kinds(reported(false)), ['misbehaviour-unreported']);
});

test('a failed startCallback must end its occupancy start_failed, its signal told so, unless a fault came between', (t) => {
  const ref = { taskId: 'a', token: 1, slotId: '1' };
  const failed = (reason: string, cause: string) =>
    new Journal()
      .feed(0, 'a')
      .add(10, 10, { ev: 'occupied', ...ref, backend: 'B' })
      .add(10, 10, { ev: 'misbehave', call: 'startCallback', how: 'throw', ...ref })
      .add(11, 10, { ev: 'callback-error', callback: 'startCallback', taskId: 'a', timeout: false, error: 'injected' })
      .add(11, 10, { ev: 'abort', ...ref, cause })
      .add(12, 10, { ev: 'stop-callback', ...ref, reason, owner: 'o10', redelivered: false })
      .add(12, 10, { ev: 'stop-callback-done', ...ref, requeued: true })
      .task(10, 'a', 2, '1', 100, 200);
  t.deepEqual(kinds(failed('start_failed', 'start_failed')), []);
  t.deepEqual(kinds(failed('start_failed', 'timeout')), ['wrong-end-reason']);
  t.deepEqual(kinds(failed('timeout', 'timeout')), ['wrong-end-reason']);
});

test('a poll returning the id of a task holding a slot must be refused as a duplicate with retryAfterMs, its claim left alone', (t) => {
  const dup = () =>
    new Journal().feed(0, 'a').task(10, 'a', 1, '1', 10, 500).add(100, 11, { ev: 'dup-poll', taskId: 'a', slotId: '2', holder: 10 });
  const refused = (retryAfterMs: number | null) =>
    dup().add(101, 11, { ev: 'reject', taskId: 'a', slotId: '2', reason: 'duplicate', retryAfterMs, handedBack: false, injected: true });
  t.deepEqual(kinds(refused(1900), { slots: 2 }), []);
  t.deepEqual(kinds(refused(null), { slots: 2 }), ['duplicate-not-refused']);
  t.deepEqual(kinds(dup(), { slots: 2 }), ['duplicate-not-refused']);
  // Started beside its holder: the store let one id hold two slots.
  const ref = { taskId: 'a', token: 2, slotId: '2' };
  const started = dup()
    .add(101, 11, { ev: 'occupied', ...ref, backend: 'B' })
    .add(102, 11, { ev: 'start-callback', ...ref, backend: 'B', inProcess: true, begun: false })
    .add(103, 11, { ev: 'stop-call', ...ref })
    .add(104, 11, { ev: 'stop-callback', ...ref, reason: 'stopped', owner: 'o11', redelivered: false });
  t.deepEqual(kinds(started, { slots: 2 }), ['duplicate-not-refused']);
});

test('cancels: an id never fed is unknown; an honoured cancel ends cancelled, accounted for; a task that ignores it, or runs after it, is a violation', (t) => {
  const ghost = (answer: { ok: boolean; reason?: string }) =>
    new Journal()
      .add(10, harness, { ev: 'cancel', taskId: 'g1', token: null, fed: false })
      .add(11, harness, { ev: 'cancel-result', taskId: 'g1', asked: null, ...answer });
  t.deepEqual(kinds(ghost({ ok: false, reason: 'unknown' })), []);
  t.deepEqual(kinds(ghost({ ok: false, reason: 'ended' })), ['wrong-cancel-answer']);

  const ref = { taskId: 'a', token: 1, slotId: '1' };
  const cancelled = (endReason: string) =>
    new Journal()
      .feed(0, 'a')
      .start(10, 10, 'a', 1, '1')
      .add(50, harness, { ev: 'cancel', taskId: 'a', token: 1, fed: true })
      .add(51, harness, { ev: 'cancel-result', taskId: 'a', asked: 1, ok: true, token: 1, alreadyRequested: false })
      .add(52, 10, { ev: 'abort', ...ref, cause: 'cancel_requested' })
      .add(60, 10, { ev: 'exec-end', ...ref, outcome: 'cancelled', steps: 1, lastGo: 40e6 })
      .add(60, 10, { ev: 'stop-call', ...ref })
      .add(61, 10, { ev: 'stop-callback', ...ref, reason: endReason, owner: 'o10', redelivered: false })
      .add(61, 10, { ev: 'stop-callback-done', ...ref, requeued: false })
      .add(62, 10, { ev: 'stop-result', ...ref, ok: true, reason: endReason });
  const report = cancelled('cancelled').check();
  t.deepEqual(report.violations, []);
  t.is(report.figures.cancelled, 1);
  t.deepEqual(kinds(cancelled('stopped')), ['wrong-end-reason']);
  t.deepEqual(kinds(cancelled('cancelled').task(10, 'a', 2, '1', 100, 200)), ['ran-after-cancel']);

  const ignored = new Journal()
    .feed(0, 'a')
    .add(50, harness, { ev: 'cancel', taskId: 'a', token: null, fed: true })
    .add(51, harness, { ev: 'cancel-result', taskId: 'a', asked: null, ok: true, token: 1, alreadyRequested: false })
    .task(10, 'a', 1, '1', 10, 9000);
  const end = ignored.events.find((e) => e.ev === 'stop-callback') as JournalEvent & { reason: string };
  end.reason = 'cancelled';
  (ignored.events.find((e) => e.ev === 'stop-result') as JournalEvent & { reason: string }).reason = 'cancelled';
  t.deepEqual(kinds(ignored), ['cancel-ignored']);
});

test('a task launched late by a slow startCallback, told start_failed at its first look, did no work: it overlaps nothing', (t) => {
  const ref = { taskId: 'a', token: 1, slotId: '1' };
  const journal = new Journal()
    .feed(0, 'a', 'b')
    .add(10, 10, { ev: 'occupied', ...ref, backend: 'B' })
    .add(10, 10, { ev: 'start-callback', ...ref, backend: 'B', inProcess: true, begun: true })
    .add(1010, 10, { ev: 'abort', ...ref, cause: 'start_failed' })
    .add(1020, 10, { ev: 'stop-callback', ...ref, reason: 'start_failed', owner: 'o10', redelivered: false })
    .add(1020, 10, { ev: 'stop-callback-done', ...ref, requeued: true })
    .task(11, 'b', 2, '1', 1100, 2000)
    .add(1500, 10, { ev: 'exec-start', ...ref })
    .add(1500, 10, { ev: 'exec-end', ...ref, outcome: 'aborted', steps: 0, lastGo: null })
    .task(10, 'a', 3, '1', 2100, 2200);
  t.deepEqual(kinds(journal), []);
});

test('a hung poll that keeps the fleet from running every slot past the bound, with no other fault after it, fails liveness', (t) => {
  const hung = (nextStart: number) =>
    new Journal()
      .feed(0, 'a', 'b')
      .task(10, 'a', 1, '1', 10, 100)
      .add(200, 10, { ev: 'misbehave', call: 'poll', how: 'hang', slotId: '1', taskId: null, token: null })
      .add(1200, 10, { ev: 'poll-error', slotId: '1', backend: 'B', timeout: true, error: 'did not settle' })
      .task(10, 'b', 2, '1', nextStart, nextStart + 100);
  t.deepEqual(kinds(hung(1300)), []);
  t.deepEqual(kinds(hung(6300)), ['liveness']);
});

test('an occupancy its blocked process learns of only after it was reaped started before that end: no overlap, no token disorder', (t) => {
  const ref = { taskId: 'a', token: 1, slotId: '1' };
  const journal = new Journal()
    .feed(0, 'a', 'b')
    // The start is sent, then the event loop blocks before its answer is read.
    .add(100, harness, { ev: 'fault', fault: 'block', target: 10, ms: 2900 })
    .add(100, 10, { ev: 'block-start', ms: 2900 })
    // Reaped elsewhere while the process is blocked; the slot goes to b.
    .add(1600, 11, { ev: 'stop-callback', ...ref, reason: 'timeout', owner: 'o10', redelivered: false })
    .add(1600, 11, { ev: 'stop-callback-done', ...ref, requeued: true })
    .task(11, 'b', 2, '1', 2000, 2500)
    .add(3000, 10, { ev: 'block-end' })
    // Awake, the process reads the start's answer, finds the lease over and never runs the task.
    .add(3001, 10, { ev: 'occupied', ...ref, backend: 'B' })
    .add(3002, 10, { ev: 'reject', taskId: 'a', slotId: '1', reason: 'lapsed', retryAfterMs: 0, handedBack: false })
    .task(11, 'a', 3, '1', 3100, 3200);
  t.false(kinds(journal).includes('token-order'));
  t.false(kinds(journal).includes('occupancy-overlap'));
});
