/**
 * The rules of a Procrastinate fault run, on top of checker.ts (whose rules judge the slots, the
 * executions and the ends as for any backend): what the jobs table showed while the fleet ran
 * (the sampled `doing` rows) and at the end (every job, with its history), against what the
 * journal shows the handlers, the slots and Python's stalled-job recipe did. Pure: journal in,
 * violations and figures out. test/faults/README.md states the rules.
 */
import { buildModel, type RunModel } from './checker-model.js';
import type { CheckConfig, CheckReport, ViolationKind } from './checker.js';
import type { EventOf, FinalJob, JournalEvent } from './harness/events.js';
import { nsToMs } from './harness/journal.js';
import { faultTaskNamed, retriesAfter } from './harness/procrastinate-tasks.js';

/**
 * How long after a stall, or a fault of the database, a job's row may stay `doing` once its slot
 * is gone: the backend's write of the end is tried again 0.5 s and 2 s after a failure for want of
 * a connection (backends/procrastinate/job-runner.ts), and the answer of the last try takes its time.
 */
export const writeGraceMs = 3000;

/** Abort causes after which the slot is gone and the backend fails the job at once (`retryOnTimeout` off). */
const slotGone = new Set(['timeout', 'max_runtime', 'lost', 'backend_removed', 'start_failed']);

export interface JobFigures {
  deferred: number;
  /** Final statuses (once drained), by status. */
  statuses: Record<string, number>;
  /** Jobs retried by Python's stalled-job recipe. */
  recovered: number;
  handBacks: number;
  samples: number;
  /** The most `doing` rows one sample saw, and the most counted against the slots (live, awake workers). */
  maxDoing: number;
  maxDoingCounted: number;
  /** Samples in which the rows of dead or stalled workers, or a database fault, were set aside. */
  samplesWithExcusedRows: number;
}

export type ProcrastinateReport = CheckReport & { jobs: JobFigures };

/** One try of a job: a start of its occupancy, as the journal shows it. */
interface Try {
  at: number;
  pid: number;
  key: string;
  /** The attempts its handler was given, or null if the handler never started. */
  attempts: number | null;
  outcome: string | null;
  abortCause: string | null;
}

/** Adds the Procrastinate rules' violations and figures to the report of checkRun. */
export function checkProcrastinate(events: readonly JournalEvent[], config: CheckConfig, base: CheckReport): ProcrastinateReport {
  const model = buildModel(events);
  const report: ProcrastinateReport = {
    ...base,
    violations: [...base.violations],
    byKind: { ...base.byKind },
    jobs: { deferred: 0, statuses: {}, recovered: 0, handBacks: 0, samples: 0, maxDoing: 0, maxDoingCounted: 0, samplesWithExcusedRows: 0 },
  };
  const violate = (kind: ViolationKind, at: number, message: string) => {
    report.violations.push({ kind, at: Math.round(at - model.origin), message });
    report.byKind[kind] = (report.byKind[kind] ?? 0) + 1;
  };
  const journal = indexJobs(events);
  report.jobs.deferred = journal.deferred.size;
  report.jobs.recovered = [...journal.recoveries.values()].reduce((n, list) => n + list.length, 0);
  report.jobs.handBacks = model.rejects.length;
  checkDoingSamples(model, journal, config, report, violate);
  const drained = journal.finals.get('drained');
  if (drained) checkFinalJobs(model, journal, drained, report, violate);
  const closed = journal.finals.get('closed');
  for (const job of closed?.jobs ?? []) {
    if (job.status === 'doing')
      violate(
        'doing-without-worker',
        nsToMs(closed!.t),
        `job ${job.id} (${job.task}) is still doing after every worker closed (worker ${String(job.workerId)})`,
      );
  }
  // The table's own view in the run's summary: jobs deferred, and those at an end their task allows.
  report.figures.fed = journal.deferred.size;
  report.figures.completed = (drained?.jobs ?? []).filter((job) => job.status !== 'doing' && job.status !== 'todo').length;
  return report;
}

type Violate = (kind: ViolationKind, at: number, message: string) => void;

interface JobJournal {
  deferred: Map<string, string>;
  workerPid: Map<string, number>;
  recoveries: Map<string, Array<{ at: number; workerId: string | null; attempts: number }>>;
  tries: Map<string, Try[]>;
  samples: Array<EventOf<'doing-sample'>>;
  finals: Map<'drained' | 'closed', EventOf<'jobs-final'>>;
}

/** The lines about jobs, by job id. */
function indexJobs(events: readonly JournalEvent[]): JobJournal {
  const journal: JobJournal = {
    deferred: new Map(),
    workerPid: new Map(),
    recoveries: new Map(),
    tries: new Map(),
    samples: [],
    finals: new Map(),
  };
  const tryByKey = new Map<string, Try>();
  const push = <T>(map: Map<string, T[]>, key: string, value: T) => map.set(key, [...(map.get(key) ?? []), value]);
  for (const event of events) {
    const at = nsToMs(event.t);
    switch (event.ev) {
      case 'defer':
        for (const job of event.jobs) journal.deferred.set(job.id, job.task);
        break;
      case 'procrastinate-worker':
        journal.workerPid.set(event.workerId, event.pid);
        break;
      case 'recovered':
        for (const job of event.jobs) push(journal.recoveries, job.id, { at, workerId: job.workerId, attempts: job.attempts });
        break;
      case 'start-callback': {
        const attempt: Try = { at, pid: event.pid, key: `${event.taskId}#${event.token}`, attempts: null, outcome: null, abortCause: null };
        tryByKey.set(attempt.key, attempt);
        push(journal.tries, event.taskId, attempt);
        break;
      }
      case 'exec-start': {
        const attempt = tryByKey.get(`${event.taskId}#${event.token}`);
        if (attempt) attempt.attempts = event.attempts ?? null;
        break;
      }
      case 'exec-end': {
        const attempt = tryByKey.get(`${event.taskId}#${event.token}`);
        if (attempt) attempt.outcome = event.outcome;
        break;
      }
      case 'abort': {
        const attempt = tryByKey.get(`${event.taskId}#${event.token}`);
        if (attempt) attempt.abortCause ??= event.cause;
        break;
      }
      case 'doing-sample':
        journal.samples.push(event);
        break;
      case 'jobs-final':
        journal.finals.set(event.phase, event);
        break;
      default:
        break;
    }
  }
  return journal;
}

/**
 * Every sample: the `doing` rows of live, awake workers never outnumber the slots. Set aside: rows
 * of a killed process (they wait for Python's recipe), of a process stalled within `writeGraceMs`
 * before the sample (its jobs are written once it wakes and finds its slots gone), and every row
 * while the database was restarted or frozen within that time (writes wait or are tried again).
 */
function checkDoingSamples(model: RunModel, journal: JobJournal, config: CheckConfig, report: ProcrastinateReport, violate: Violate): void {
  let over = false;
  for (const sample of journal.samples) {
    const to = nsToMs(sample.t);
    const from = nsToMs(sample.sentAt) - writeGraceMs;
    const databaseFault = model.storeFaults.some((f) => f.from <= to && f.to >= from);
    const excused = (workerId: string | null): boolean => {
      const pid = workerId === null ? undefined : journal.workerPid.get(workerId);
      if (pid === undefined) return false;
      const deathAt = model.processes.get(pid)?.deathAt ?? null;
      return (deathAt !== null && deathAt <= to) || model.stalls.some((s) => s.pid === pid && s.from <= to && s.to >= from);
    };
    const counted = databaseFault ? [] : sample.rows.filter(([, workerId]) => !excused(workerId));
    report.jobs.samples++;
    report.jobs.maxDoing = Math.max(report.jobs.maxDoing, sample.rows.length);
    report.jobs.maxDoingCounted = Math.max(report.jobs.maxDoingCounted, counted.length);
    if (counted.length < sample.rows.length) report.jobs.samplesWithExcusedRows++;
    if (counted.length > config.slots && !over) {
      const rows = counted.map(([id, workerId]) => `${id}@${String(workerId)}`).join(', ');
      violate('doing-over-slots', to, `${counted.length} jobs doing on ${config.slots} slots, all of live, awake workers: ${rows}`);
    }
    over = counted.length > config.slots;
  }
}

/** Once drained, every job is at an end its journal explains, with honest attempts. */
function checkFinalJobs(
  model: RunModel,
  journal: JobJournal,
  final: EventOf<'jobs-final'>,
  report: ProcrastinateReport,
  violate: Violate,
): void {
  const at = nsToMs(final.t);
  const rows = new Map(final.jobs.map((job) => [job.id, job]));
  for (const job of final.jobs) report.jobs.statuses[job.status] = (report.jobs.statuses[job.status] ?? 0) + 1;
  const rejectsOf = (id: string) => model.rejects.filter((r) => r.taskId === id).map((r) => nsToMs(r.t));
  for (const [id, taskName] of journal.deferred) {
    const job = rows.get(id);
    if (!job) {
      violate('job-lost', at, `job ${id} (${taskName}) was deferred and is not in the table`);
      continue;
    }
    const tries = journal.tries.get(id) ?? [];
    const recoveries = journal.recoveries.get(id) ?? [];
    const name = `job ${id} (${taskName}, ${job.status}, attempts ${job.attempts}, ${tries.length} tries, ${recoveries.length} recovered; events ${job.events.join(' ')})`;
    checkStatus(model, journal, job, tries, rejectsOf(id), final.now, at, name, violate);
    checkAttempts(job, tries, recoveries, at, name, violate);
  }
}

/** The job's status is one its journal explains. */
function checkStatus(
  model: RunModel,
  journal: JobJournal,
  job: FinalJob,
  tries: Try[],
  rejects: number[],
  dbNow: number,
  at: number,
  name: string,
  violate: Violate,
): void {
  const task = faultTaskNamed(job.task);
  const last = tries[tries.length - 1];
  const lastThrewWithRetry = last?.outcome === 'threw' && task !== undefined && last.attempts !== null && retriesAfter(task, last.attempts);
  switch (job.status) {
    case 'succeeded':
      if (!tries.some((t) => t.outcome === 'succeeded')) violate('wrong-status', at, `${name}: succeeded, but no handler of it returned`);
      return;
    case 'failed': {
      const byPolicy = last?.outcome === 'threw' && !lastThrewWithRetry;
      const slotLost = last?.abortCause !== null && last?.abortCause !== undefined && slotGone.has(last.abortCause);
      if (!byPolicy && !slotLost)
        violate('wrong-status', at, `${name}: failed, but its last try neither threw with no retry left nor lost its slot`);
      return;
    }
    case 'aborted':
      if (last?.abortCause !== 'shutdown' && last?.abortCause !== 'user_request' && last?.abortCause !== 'cancel_requested') {
        violate('wrong-status', at, `${name}: aborted, but no abort was asked of its last try`);
      }
      return;
    case 'todo': {
      if (job.scheduledAt === null || job.scheduledAt <= dbNow) {
        violate('job-not-drained', at, `${name}: due in todo once the queue drained`);
        return;
      }
      // Not due yet: its policy's retry, or a hand-back after a refused start waiting out its backoff.
      const handedBackSince = rejects.some((r) => last === undefined || r > last.at);
      if (!lastThrewWithRetry && !handedBackSince)
        violate(
          'wrong-status',
          at,
          `${name}: todo until ${new Date(job.scheduledAt).toISOString()}, but neither its retry policy nor a hand-back puts it there`,
        );
      return;
    }
    case 'doing': {
      const pid = job.workerId === null ? undefined : journal.workerPid.get(job.workerId);
      const live = pid !== undefined && (model.processes.get(pid)?.deathAt ?? null) === null;
      if (live)
        violate(
          'doing-at-end',
          at,
          `${name}: still doing under live worker ${String(job.workerId)} (pid ${String(pid)}) once the queue drained`,
        );
      else violate('doing-without-worker', at, `${name}: doing under worker ${String(job.workerId)}, which is gone`);
      return;
    }
    default:
      violate('wrong-status', at, `${name}: ${job.status}, which no path of the run leads to`);
  }
}

/**
 * Honest attempts. Each try (a start of the job's occupancy) counts once: by its own write, or by
 * Python's recipe when its process died or stalled before writing; each retry of the recipe counts
 * one; a hand-back counts nothing. So with no recovery, attempts equals the tries, and each try's
 * handler was given the tries before it; with recoveries, attempts lies between the tries and the
 * tries plus the recoveries (a recovery counts a try that could not write, or a claim that never
 * started).
 */
function checkAttempts(job: FinalJob, tries: Try[], recoveries: Array<{ at: number }>, at: number, name: string, violate: Violate): void {
  // A job still doing has one try not counted yet.
  const open = job.status === 'doing' ? 1 : 0;
  const low = tries.length - open;
  const high = tries.length + recoveries.length;
  if (job.attempts < low || job.attempts > high) {
    violate('dishonest-attempts', at, `${name}: attempts ${job.attempts}, expected ${low === high ? low : `${low}..${high}`}`);
  }
  for (const [i, attempt] of tries.entries()) {
    const recoveredBefore = recoveries.filter((r) => r.at < attempt.at).length;
    if (attempt.attempts === null || recoveredBefore > 0) continue;
    if (attempt.attempts !== i)
      violate('dishonest-attempts', attempt.at, `${name}: its try ${i + 1} was given attempts ${attempt.attempts}, after ${i} tries`);
  }
}
