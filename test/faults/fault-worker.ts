/**
 * The scheduler process under test in a fault run. It serves the fleet's slots on the run's store,
 * takes task ids from the harness's task source, runs each as work of random length, and writes
 * what its tasks do to its own journal file (harness/events.ts): the checker's only evidence.
 *
 * A task looks at its signal before each step and stops at once when it fires; it keeps itself
 * alive every quarter timeout; once done it records its completion in the source (fenced by its
 * token), then calls `stop()`. Nothing is lost and nothing runs twice, through the source's states
 * (harness/task-source.ts):
 * - a rejected start, or a poll abandoned past its time limit, hands the claim back;
 * - `stopCallback` with any reason but `stopped`/`cancelled` (timeout, lost, start_failed...)
 *   queues the task again if that occupancy still holds it: a task that lost its slot is run again;
 * - a sweep gives back the tasks claimed or run by processes that no longer exist (killed), as a
 *   queue's stalled-job recovery would: nothing else would, should the store lose their occupancy.
 *   The store still refuses to start such a task elsewhere (duplicate) while its occupancy lasts.
 *
 * The harness injects faults from outside (SIGKILL, SIGSTOP) and through orders (harness/control.ts):
 * kill itself at a chosen phase, or block the event loop in a task's step.
 *
 * Configuration: FAULT_WORKER, a JSON WorkerConfig (harness/worker-config.ts).
 */
import { Backend, type PollContext, type RejectInfo, type StopOutcome, type TaskContext } from '../../backends/backend.js';
import { TaskAbortedError } from '../../src/errors.js';
import type { TaskRef } from './harness/events.js';
import { Rng } from './harness/rng.js';
import { startSelfSampler } from './harness/self-sampler.js';
import { TaskSource } from './harness/task-source.js';
import { backendOfSlot, inProcessBackend, remoteBackend } from './harness/worker-config.js';
import { alive, closeOnSigterm, faultScheduler, loadUntilReady, Orders, runSteps, startWorkerProcess, stepsOf } from './harness/worker-process.js';

const { config, journal, fatal } = startWorkerProcess('fault-worker');
const source = new TaskSource(config.sourceUrl);
const rng = new Rng(config.seed).fork(String(process.pid));
const pid = process.pid;
// Orders from the harness: kill itself at a phase, block the event loop in a task's step.
const orders = new Orders(config.runDir, journal);

// --- tasks ------------------------------------------------------------------------------------

const causeOf = (reason: unknown) => (reason instanceof TaskAbortedError ? reason.abortCause : String(reason));

/** Runs one task's work: steps, each after a look at its signal, then its completion and `stop()`. */
async function execute(context: TaskContext): Promise<void> {
  const ref: TaskRef = { taskId: context.taskId, token: context.token, slotId: context.slotId };
  const keepaliveEvery = Math.max(1, Math.floor(config.timeoutMs / 4 / config.tasks.stepMs));
  journal.write({ ev: 'exec-start', ...ref });
  const { aborted, done, lastGo } = await runSteps(context.signal, stepsOf(config, rng), config.tasks.stepMs, orders, (step) => {
    if (step % keepaliveEvery !== 0) return;
    journal.write({ ev: 'keepalive', ...ref });
    void context.keepalive().catch(() => {});
  });
  if (aborted) {
    journal.write({ ev: 'exec-end', ...ref, outcome: 'aborted', steps: done, lastGo });
    return;
  }
  // Sent in the same tick as the last look: a stall cannot fall between them unnoticed.
  const completed = await source.complete(ref.taskId, ref.token);
  journal.write({ ev: 'exec-end', ...ref, outcome: completed ? 'completed' : 'fenced', steps: done, lastGo });
  await stop(context, ref, completed ? 'succeeded' : 'fenced');
}

/** Calls `stop()` and records what it answered; armed for `stop`, dies a few ms after sending it. */
async function stop(context: TaskContext, ref: TaskRef, status: string): Promise<void> {
  journal.write({ ev: 'stop-call', ...ref });
  const stopping = context.stop({ status });
  if (orders.armedPhase === 'stop') setTimeout(() => orders.dieIfArmed('stop'), rng.int(0, 5));
  try {
    const result = await stopping;
    journal.write({ ev: 'stop-result', ...ref, ok: result.ok, reason: result.reason });
  } catch (error) {
    journal.write({ ev: 'stop-result', ...ref, ok: false, error: String(error) });
  }
}

/** Tasks from the source, for the slots that list it; `runsInProcess` for the InProcess backend. */
class SourceBackend extends Backend {
  override readonly claimsTasks = true;

  constructor(override readonly runsInProcess: boolean) {
    super();
  }

  override async poll({ slotId, signal }: PollContext): Promise<string | null> {
    const taskId = await source.pop(pid);
    if (taskId === null) return null;
    journal.write({ ev: 'pop', taskId, slotId });
    orders.dieIfArmed('poll');
    if (signal.aborted) {
      // Past pollTimeout the scheduler ignores what the poll returns: the claim must go back.
      const handedBack = await source.handBack(taskId, pid);
      journal.write({ ev: 'poll-abandoned', taskId, handedBack });
      return null;
    }
    return taskId;
  }

  override async startCallback(taskId: string, context: TaskContext): Promise<void> {
    const ref: TaskRef = { taskId, token: context.token, slotId: context.slotId };
    const begun = await source.begin(taskId, pid, context.token);
    journal.write({ ev: 'start-callback', ...ref, backend: context.backend, inProcess: this.runsInProcess, begun });
    context.onAbort((reason) => journal.write({ ev: 'abort', ...ref, cause: causeOf(reason) }));
    // Never begun: this process no longer holds the claim, so the task must not run here.
    if (!begun) void stop(context, ref, 'stale');
    else void execute(context).catch(fatal);
  }

  override async stopCallback(taskId: string, outcome: StopOutcome): Promise<void> {
    const ref: TaskRef = { taskId, token: outcome.token, slotId: outcome.slotId };
    const redelivered = (outcome as StopOutcome & { redelivered?: boolean }).redelivered === true;
    journal.write({ ev: 'stop-callback', ...ref, reason: outcome.reason, owner: outcome.owner, redelivered });
    const finished = outcome.reason === 'stopped' || outcome.reason === 'cancelled';
    const requeued = finished ? false : await source.requeue(taskId, outcome.token);
    journal.write({ ev: 'stop-callback-done', ...ref, requeued });
  }

  override async rejectCallback(taskId: string, info: RejectInfo): Promise<void> {
    const handedBack = await source.handBack(taskId, pid, info.retryAfterMs ?? 0);
    journal.write({ ev: 'reject', taskId, slotId: info.slotId, reason: info.reason, retryAfterMs: info.retryAfterMs ?? null, handedBack });
  }
}

/** Gives back the tasks claimed or run by processes that died. */
async function sweepDeadHolders(): Promise<void> {
  for (const { taskId, pid: holder, held } of await source.holders()) {
    if (holder === pid || alive(holder)) continue;
    const swept = held === 'claim' ? await source.handBack(taskId, holder) : await source.requeueOrphan(taskId, holder);
    if (swept) journal.write({ ev: 'swept', taskId, deadPid: holder, held });
  }
}

// --- the scheduler ----------------------------------------------------------------------------

const scheduler = faultScheduler(config);
scheduler.registerBackend(remoteBackend, new SourceBackend(false)).registerBackend(inProcessBackend, new SourceBackend(true));
scheduler.on('task:start', (occupancy) => {
  journal.write({ ev: 'occupied', taskId: occupancy.taskId, token: occupancy.token, slotId: occupancy.slotId, backend: occupancy.backend });
  orders.dieIfArmed('started');
});
scheduler.on('pass:error', (error) => journal.write({ ev: 'pass-error', error: error.message.slice(0, 300) }));

const slotConfig = Array.from({ length: config.slots }, (_, i) => ({ slotId: i + 1, backends: [backendOfSlot(i + 1, config.backends)] }));
await loadUntilReady(scheduler, slotConfig, journal, fatal);
journal.write({ ev: 'ready', slots: config.slots, backends: [...new Set(slotConfig.map((slot) => slot.backends[0]!))], wallMs: Date.now() });
scheduler.start({ cron: config.cron });
const sweeper = setInterval(() => void sweepDeadHolders().catch(() => {}), 500);
const stopSampling = config.sampleEveryMs === undefined ? () => {} : startSelfSampler(journal, scheduler, config.sampleEveryMs);

closeOnSigterm(scheduler, journal, fatal, {
  before: () => {
    clearInterval(sweeper);
    stopSampling();
  },
  after: () => source.close(),
});
