/**
 * The scheduler process of a Procrastinate fault run: its slots (on the run's PostgreSQL, or on
 * Redis) list one ProcrastinateBackend that claims the jobs of the run's queue from the run's
 * PostgreSQL, as a Node worker beside Python ones would. Its handlers write what they do to the
 * journal, with the lines of the synthetic worker (harness/events.ts), so that the same checker
 * judges the slots, and procrastinate-checker.ts the jobs.
 *
 * A handler runs the job as work of random length in steps, looking at its signal before each
 * (the signal Procrastinate's backend gives it), then, per its task (harness/procrastinate-tasks.ts),
 * returns or throws on purpose: the backend finishes the job, retries it per the task's policy, or
 * fails it. The backend is subclassed only to journal what it is called with and what its tasks
 * call: claims (`pop`), starts, `stop()` calls and results, ends and rejects. Nothing here writes
 * a job: every write is the backend's.
 *
 * The backend's own sweeper is off: the harness plays Python's stalled-job recipe instead, and
 * journals what it recovers.
 *
 * Configuration: FAULT_WORKER, a JSON WorkerConfig (harness/worker-config.ts) with `procrastinate`.
 */
import type { PollContext, RejectInfo, StopOutcome, TaskContext } from '../../src/contracts/backend.js';
import { ProcrastinateBackend } from '../../backends/procrastinate/backend.js';
import type { JobContext, TaskDefinition } from '../../backends/procrastinate/backend-options.js';
import { TaskAbortedError } from '../../src/core/errors.js';
import type { StopOptions } from '../../src/contracts/results.js';
import type { TaskRef } from './harness/events.js';
import { faultQueue, faultTasks, type FaultTask } from './harness/procrastinate-tasks.js';
import { Rng } from './harness/rng.js';
import {
  closeOnSigterm,
  faultScheduler,
  loadUntilReady,
  Orders,
  refOf,
  runSteps,
  startWorkerProcess,
  stepsOf,
} from './harness/worker-process.js';

const { config, journal, fatal } = startWorkerProcess('procrastinate-fault-worker');
const jobsDb = config.procrastinate ?? fatal(new Error('procrastinate-fault-worker needs config.procrastinate'));
const rng = new Rng(config.seed).fork(String(process.pid));
const orders = new Orders(config.runDir, journal);
const backendName = 'Procrastinate';

/** The cause a signal gives: the slot's (TaskAbortedError) or Procrastinate's (JobAbortedError). */
const causeOf = (reason: unknown): string => {
  if (reason instanceof TaskAbortedError) return reason.abortCause;
  const procrastinate = (reason as { abortReason?: unknown } | undefined)?.abortReason;
  return typeof procrastinate === 'string' ? procrastinate : String(reason);
};

/** The occupancy of each job whose handler is about to start, set by startCallback. */
const starting = new Map<string, TaskRef>();

/** One job's run: steps, each after a look at its signal, then it returns or throws, per its task. */
async function handle(task: FaultTask, job: JobContext): Promise<void> {
  const ref = starting.get(job.id) ?? fatal(new Error(`handler of job ${job.id} started without startCallback`));
  starting.delete(job.id);
  journal.write({ ev: 'exec-start', ...ref, attempts: job.attempts });
  const { aborted, done, lastGo } = await runSteps(job.signal, stepsOf(config, rng), config.tasks.stepMs, orders);
  if (aborted) {
    journal.write({ ev: 'exec-end', ...ref, outcome: 'aborted', steps: done, lastGo });
    throw job.signal.reason;
  }
  if (task.failsAt(job.attempts)) {
    journal.write({ ev: 'exec-end', ...ref, outcome: 'threw', steps: done, lastGo });
    throw new Error(`${task.name} fails on purpose after ${job.attempts} attempts`);
  }
  journal.write({ ev: 'exec-end', ...ref, outcome: 'succeeded', steps: done, lastGo });
}

const tasks: Record<string, TaskDefinition> = Object.fromEntries(
  faultTasks.map((task) => [
    task.name,
    { handler: (_args: Record<string, unknown>, job: JobContext) => handle(task, job), retry: task.retry ?? false },
  ]),
);

/** The ProcrastinateBackend, journaling what the scheduler calls it with and what its tasks do. */
class JournaledBackend extends ProcrastinateBackend {
  override async poll(context: PollContext): Promise<string | null> {
    const taskId = await super.poll(context);
    if (taskId !== null) this.journalClaims([taskId], context);
    return taskId;
  }

  override async pollBatch(max: number, context: PollContext): Promise<string[]> {
    const taskIds = await super.pollBatch(max, context);
    this.journalClaims(taskIds, context);
    return taskIds;
  }

  override startCallback(taskId: string, context: TaskContext): void {
    const ref = refOf(taskId, context);
    journal.write({ ev: 'start-callback', ...ref, backend: context.backend, inProcess: this.runsInProcess, begun: true });
    context.onAbort((reason) => journal.write({ ev: 'abort', ...ref, cause: causeOf(reason) }));
    starting.set(taskId, ref);
    // The backend calls stop() itself once the job's end is decided: journaled, and armed kills fire there.
    const journaled: TaskContext = Object.create(context) as TaskContext;
    journaled.stop = async (options?: Omit<StopOptions, 'token'>) => {
      journal.write({ ev: 'stop-call', ...ref });
      const stopping = context.stop(options);
      if (orders.armedPhase === 'stop') setTimeout(() => orders.dieIfArmed('stop'), rng.int(0, 5));
      try {
        const result = await stopping;
        journal.write({ ev: 'stop-result', ...ref, ok: result.ok, reason: result.reason });
        return result;
      } catch (error) {
        journal.write({ ev: 'stop-result', ...ref, ok: false, error: String(error) });
        throw error;
      }
    };
    super.startCallback(taskId, journaled);
  }

  override async stopCallback(taskId: string, outcome: StopOutcome): Promise<void> {
    const ref = refOf(taskId, outcome);
    const redelivered = (outcome as StopOutcome & { redelivered?: boolean }).redelivered === true;
    journal.write({ ev: 'stop-callback', ...ref, reason: outcome.reason, owner: outcome.owner, redelivered });
    await super.stopCallback(taskId, outcome);
    journal.write({ ev: 'stop-callback-done', ...ref, requeued: false });
  }

  override async rejectCallback(taskId: string, info: RejectInfo): Promise<void> {
    await super.rejectCallback(taskId, info);
    // The backend hands the job back (or fails it when it cannot go back): the tables tell which.
    journal.write({
      ev: 'reject',
      taskId,
      slotId: info.slotId,
      reason: info.reason,
      retryAfterMs: info.retryAfterMs ?? null,
      handedBack: true,
    });
  }

  private journalClaims(taskIds: readonly string[], context: PollContext): void {
    for (const taskId of taskIds) journal.write({ ev: 'pop', taskId, slotId: context.slotId });
    if (taskIds.length > 0) orders.dieIfArmed('poll');
  }
}

const backend = new JournaledBackend({
  postgres: jobsDb.url,
  queues: [faultQueue],
  tasks,
  heartbeatInterval: jobsDb.heartbeatMs,
  sweepInterval: 0,
  shutdownGrace: '2s',
});

const scheduler = faultScheduler(config);
scheduler.registerBackend(backendName, backend);
scheduler.on('task:start', (occupancy) => {
  journal.write({ ev: 'occupied', taskId: occupancy.taskId, token: occupancy.token, slotId: occupancy.slotId, backend: occupancy.backend });
  orders.dieIfArmed('started');
});
scheduler.on('pass:error', (error) => journal.write({ ev: 'pass-error', error: error.message.slice(0, 300) }));

const slotConfig = Array.from({ length: config.slots }, (_, i) => ({ slotId: i + 1, backends: [backendName] }));
await loadUntilReady(scheduler, slotConfig, journal, fatal);
journal.write({ ev: 'procrastinate-worker', workerId: backend.workerId! });
journal.write({ ev: 'ready', slots: config.slots, backends: [backendName] });
scheduler.start({ cron: config.cron });
closeOnSigterm(scheduler, journal, fatal);
