/**
 * The Procrastinate rules of the fault suite (test/faults/procrastinate-checker.ts) on hand-made
 * journals: sampled `doing` rows above the slots, end statuses the journal does not explain,
 * dishonest `attempts` and jobs left `doing` are found; what the faults excuse (rows of dead or
 * stalled workers, a database away) is not.
 */
import test from 'ava';
import { checkRun, type CheckConfig, type ViolationKind } from './checker.js';
import type { FinalJob, HarnessEvent, JournalEvent, WorkerEvent } from './harness/events.js';
import { checkProcrastinate } from './procrastinate-checker.js';

const harness = 1;
const config: CheckConfig = { slots: 1, recoveryBoundMs: 5000, requireRedelivery: false };
const hour = 3_600_000;

/** A journal of a Procrastinate run under construction: lines at given milliseconds. */
class Journal {
  readonly events: JournalEvent[] = [];
  private token = 0;

  constructor() {
    // Two workers: pid 10 is Procrastinate worker 1, pid 11 worker 2.
    this.add(0, 10, { ev: 'procrastinate-worker', workerId: '1' }).add(0, 11, { ev: 'procrastinate-worker', workerId: '2' });
  }

  add(ms: number, pid: number, event: WorkerEvent | HarnessEvent): this {
    this.events.push({ t: ms * 1e6, pid, ...event } as JournalEvent);
    return this;
  }

  defer(ms: number, id: string, task: string): this {
    return this.add(ms, harness, { ev: 'defer', jobs: [{ id, task }] });
  }

  /**
   * One try of job `id` in pid 10, its handler given `attempts`, ending as `outcome`; `abort` fires
   * its signal first, with that cause. Its occupancy ends as the backend ends it.
   */
  try(ms: number, id: string, attempts: number, outcome: 'succeeded' | 'threw' | 'aborted', abort?: string): this {
    const ref = { taskId: id, token: ++this.token, slotId: '1' };
    this.add(ms, 10, { ev: 'occupied', ...ref, backend: 'Procrastinate' })
      .add(ms, 10, { ev: 'start-callback', ...ref, backend: 'Procrastinate', inProcess: true, begun: true })
      .add(ms, 10, { ev: 'exec-start', ...ref, attempts });
    if (abort) this.add(ms + 5, 10, { ev: 'abort', ...ref, cause: abort });
    this.add(ms + 10, 10, { ev: 'exec-end', ...ref, outcome, steps: 1, lastGo: (ms + 9) * 1e6 });
    if (abort) return this.add(ms + 11, 10, { ev: 'stop-callback', ...ref, reason: 'timeout', owner: 'o', redelivered: false });
    return this.add(ms + 10, 10, { ev: 'stop-call', ...ref })
      .add(ms + 11, 10, { ev: 'stop-callback', ...ref, reason: 'stopped', owner: 'o', redelivered: false })
      .add(ms + 11, 10, { ev: 'stop-result', ...ref, ok: true, reason: 'stopped' });
  }

  /** The tables as the harness read them at `ms` (the database clock reads `ms` too). */
  final(
    ms: number,
    phase: 'drained' | 'closed',
    jobs: Array<Partial<FinalJob> & Pick<FinalJob, 'id' | 'task' | 'status' | 'attempts'>>,
  ): this {
    return this.add(ms, harness, {
      ev: 'jobs-final',
      phase,
      now: ms,
      jobs: jobs.map((job) => ({ workerId: null, scheduledAt: null, events: [], ...job })),
    });
  }

  /** The Procrastinate rules' violation kinds, sorted. */
  kinds(): ViolationKind[] {
    const events = [...this.events].sort((a, b) => a.t - b.t);
    const report = checkProcrastinate(events, config, checkRun(events, config));
    return [...new Set(report.violations.map((v) => v.kind))]
      .filter((kind) => !Object.keys(checkRun(events, config).byKind).includes(kind))
      .sort();
  }
}

test('jobs at the ends their handlers and policies lead to, with one attempt per try, break no rule', (t) => {
  const journal = new Journal()
    .defer(0, '1', 'faults.ok')
    .defer(0, '2', 'faults.flaky')
    .defer(0, '3', 'faults.later')
    .defer(0, '4', 'faults.fail')
    .try(100, '1', 0, 'succeeded')
    .try(200, '2', 0, 'threw')
    .try(300, '2', 1, 'threw')
    .try(400, '2', 2, 'succeeded')
    .try(500, '3', 0, 'threw')
    .try(600, '4', 0, 'threw')
    .final(1000, 'drained', [
      { id: '1', task: 'faults.ok', status: 'succeeded', attempts: 1 },
      { id: '2', task: 'faults.flaky', status: 'succeeded', attempts: 3 },
      { id: '3', task: 'faults.later', status: 'todo', attempts: 1, scheduledAt: 1000 + hour },
      { id: '4', task: 'faults.fail', status: 'failed', attempts: 1 },
    ]);
  t.deepEqual(journal.kinds(), []);
});

test('an attempt counted for a hand-back, or a handler given the wrong count, is dishonest', (t) => {
  // Claimed, refused by the slot and handed back: no try. Then one run that succeeds.
  const handedBack = new Journal()
    .defer(0, '1', 'faults.ok')
    .add(50, 10, { ev: 'reject', taskId: '1', slotId: '1', reason: 'duplicate', retryAfterMs: 0, handedBack: true })
    .try(100, '1', 1, 'succeeded')
    .final(1000, 'drained', [{ id: '1', task: 'faults.ok', status: 'succeeded', attempts: 2 }]);
  t.deepEqual(handedBack.kinds(), ['dishonest-attempts']);
  // The same with honest counts.
  const honest = new Journal()
    .defer(0, '1', 'faults.ok')
    .add(50, 10, { ev: 'reject', taskId: '1', slotId: '1', reason: 'duplicate', retryAfterMs: 0, handedBack: true })
    .try(100, '1', 0, 'succeeded')
    .final(1000, 'drained', [{ id: '1', task: 'faults.ok', status: 'succeeded', attempts: 1 }]);
  t.deepEqual(honest.kinds(), []);
});

test('a recovery by the stalled-job recipe may count one attempt more than the tries, never more', (t) => {
  const recovered = (attempts: number) =>
    new Journal()
      .defer(0, '1', 'faults.ok')
      .add(50, harness, { ev: 'recovered', jobs: [{ id: '1', workerId: '2', attempts: 0 }] })
      .try(100, '1', 1, 'succeeded')
      .final(1000, 'drained', [{ id: '1', task: 'faults.ok', status: 'succeeded', attempts }])
      .kinds();
  t.deepEqual(recovered(2), []);
  t.deepEqual(recovered(1), []);
  t.deepEqual(recovered(3), ['dishonest-attempts']);
});

test('an end the journal does not explain is a wrong status; a failure after a lost slot is explained', (t) => {
  const okFailed = (abort?: string) =>
    new Journal()
      .defer(0, '1', 'faults.ok')
      .try(100, '1', 0, abort ? 'aborted' : 'succeeded', abort)
      .final(1000, 'drained', [{ id: '1', task: 'faults.ok', status: 'failed', attempts: 1 }])
      .kinds();
  t.deepEqual(okFailed(), ['wrong-status']);
  t.deepEqual(okFailed('lost'), []);
  // Its policy retries after a first failure: failed there, the retry was skipped.
  const doomed = new Journal()
    .defer(0, '1', 'faults.doomed')
    .try(100, '1', 0, 'threw')
    .final(1000, 'drained', [{ id: '1', task: 'faults.doomed', status: 'failed', attempts: 1 }]);
  t.deepEqual(doomed.kinds(), ['wrong-status']);
  // Succeeded with no handler that returned.
  const never = new Journal()
    .defer(0, '1', 'faults.fail')
    .try(100, '1', 0, 'threw')
    .final(1000, 'drained', [{ id: '1', task: 'faults.fail', status: 'succeeded', attempts: 1 }]);
  t.deepEqual(never.kinds(), ['wrong-status']);
});

test('a job due in todo, doing, or gone once drained, or doing once the fleet closed, is found', (t) => {
  const journal = new Journal()
    .defer(0, '1', 'faults.later')
    .defer(0, '2', 'faults.ok')
    .defer(0, '3', 'faults.ok')
    .defer(0, '4', 'faults.ok')
    .try(100, '1', 0, 'threw')
    .add(200, harness, { ev: 'fault', fault: 'kill', target: 11 })
    .final(1000, 'drained', [
      // Its retry is due: the fleet should have run it.
      { id: '1', task: 'faults.later', status: 'todo', attempts: 1, scheduledAt: 900 },
      { id: '2', task: 'faults.ok', status: 'doing', attempts: 0, workerId: '1' },
      { id: '3', task: 'faults.ok', status: 'doing', attempts: 0, workerId: '2' },
    ])
    .final(2000, 'closed', [{ id: '2', task: 'faults.ok', status: 'doing', attempts: 0 }]);
  t.deepEqual(journal.kinds(), ['doing-at-end', 'doing-without-worker', 'job-lost', 'job-not-drained']);
});

test('doing rows above the slots are found, unless their worker was killed or stalled, or the database away, just before', (t) => {
  const sample = (journal: Journal, ms: number) =>
    journal.add(ms, harness, {
      ev: 'doing-sample',
      sentAt: (ms - 2) * 1e6,
      rows: [
        ['1', '1'],
        ['2', '2'],
      ],
    });
  t.deepEqual(sample(new Journal(), 5000).kinds(), ['doing-over-slots']);
  t.deepEqual(sample(new Journal().add(4000, harness, { ev: 'fault', fault: 'kill', target: 11 }), 5000).kinds(), []);
  const stalled = new Journal()
    .add(1000, harness, { ev: 'fault', fault: 'stop', target: 11, ms: 500 })
    .add(1500, harness, { ev: 'fault', fault: 'cont', target: 11 });
  t.deepEqual(sample(stalled, 4000).kinds(), [], 'within 3 s of waking');
  t.deepEqual(sample(stalled, 5000).kinds(), ['doing-over-slots'], 'over 3 s after waking');
  const restarted = new Journal()
    .add(1000, harness, { ev: 'fault', fault: 'restart-begin', target: 'store', stateLoss: false })
    .add(2000, harness, { ev: 'fault', fault: 'restart-end', target: 'store', mode: 'fast' });
  t.deepEqual(sample(restarted, 4000).kinds(), []);
});
