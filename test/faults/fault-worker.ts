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
import { setTimeout as sleep } from 'node:timers/promises';
import { Backend, type PollContext, type RejectInfo, type StopOutcome, type TaskContext } from '../../backends/backend.js';
import { TaskAbortedError } from '../../src/errors.js';
import { Scheduler } from '../../src/scheduler.js';
import { takeControl, type KillPhase } from './harness/control.js';
import type { TaskRef, WorkerEvent } from './harness/events.js';
import { JournalWriter, journalPath, monotonicNs } from './harness/journal.js';
import { Rng } from './harness/rng.js';
import { startSelfSampler } from './harness/self-sampler.js';
import { TaskSource } from './harness/task-source.js';
import { backendOfSlot, inProcessBackend, remoteBackend, type WorkerConfig } from './harness/worker-config.js';
import { storeOptions } from './harness/worker-store.js';

const config = JSON.parse(process.env.FAULT_WORKER ?? 'null') as WorkerConfig | null;
if (!config) throw new Error('fault-worker needs FAULT_WORKER, a JSON WorkerConfig');

const journal = new JournalWriter<WorkerEvent>(journalPath(config.runDir, 'worker', process.pid));
const source = new TaskSource(config.sourceUrl);
const rng = new Rng(config.seed).fork(String(process.pid));
const pid = process.pid;

process.on('uncaughtException', (error) => fatal(error));
process.on('unhandledRejection', (error) => fatal(error));

/** Records an error this process cannot handle (a violation for the checker), and exits. */
function fatal(error: unknown): never {
  journal.write({ ev: 'fatal', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}

// --- orders from the harness ------------------------------------------------------------------

let armedPhase: KillPhase | undefined;
let blockOrder: { ms: number; before: number } | undefined;

process.on('SIGUSR2', () => {
  const control = takeControl(config.runDir);
  if (control?.action === 'die') armedPhase = control.phase;
  if (control?.action === 'block') blockOrder = control;
});

/** SIGKILL of this very process, when armed for `phase`: a real kill -9, at a chosen point. */
function dieIfArmed(phase: KillPhase): void {
  if (armedPhase !== phase) return;
  journal.write({ ev: 'dying', phase });
  process.kill(pid, 'SIGKILL');
}

/** Blocks the event loop as a CPU-bound task would (without burning the shared CPU meanwhile). */
function blockEventLoop(ms: number): void {
  journal.write({ ev: 'block-start', ms });
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  journal.write({ ev: 'block-end' });
}

// --- tasks ------------------------------------------------------------------------------------

const causeOf = (reason: unknown) => (reason instanceof TaskAbortedError ? reason.abortCause : String(reason));

/** Runs one task's work: steps, each after a look at its signal, then its completion and `stop()`. */
async function execute(context: TaskContext): Promise<void> {
  const ref: TaskRef = { taskId: context.taskId, token: context.token, slotId: context.slotId };
  const { minMs, maxMs, longShare, longMinMs, longMaxMs, stepMs } = config!.tasks;
  const steps = Math.ceil((rng.chance(longShare) ? rng.int(longMinMs, longMaxMs) : rng.int(minMs, maxMs)) / stepMs);
  const keepaliveEvery = Math.max(1, Math.floor(config!.timeoutMs / 4 / stepMs));
  journal.write({ ev: 'exec-start', ...ref });
  let done = 0;
  let lastGo: number | null = null;
  for (;;) {
    // The look: after a stall, the signal checks the lease as it is read.
    if (context.signal.aborted) {
      journal.write({ ev: 'exec-end', ...ref, outcome: 'aborted', steps: done, lastGo });
      return;
    }
    lastGo = monotonicNs();
    if (done === steps) break;
    if (blockOrder !== undefined) {
      // An order no task could take in time is dropped: a block after the last fault would blur recovery.
      const { ms, before } = blockOrder;
      blockOrder = undefined;
      if (monotonicNs() < before) blockEventLoop(ms);
    }
    await sleep(stepMs);
    done++;
    if (done % keepaliveEvery === 0) {
      journal.write({ ev: 'keepalive', ...ref });
      void context.keepalive().catch(() => {});
    }
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
  if (armedPhase === 'stop') setTimeout(() => dieIfArmed('stop'), rng.int(0, 5));
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
    dieIfArmed('poll');
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

/** True while a process with this pid exists (stopped ones too). */
function alive(other: number): boolean {
  try {
    process.kill(other, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
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

const scheduler = new Scheduler({
  name: config.name,
  ...storeOptions(config.store),
  timeout: config.timeoutMs,
  processLease: config.processLeaseMs,
  reservationTimeout: config.reservationTimeoutMs,
  pollTimeout: config.pollTimeoutMs,
  ...(config.maxLocalTasks === null ? {} : { maxLocalTasks: config.maxLocalTasks }),
  ...(config.endedRetentionMs === undefined ? {} : { endedRetention: config.endedRetentionMs }),
});
scheduler.registerBackend(remoteBackend, new SourceBackend(false)).registerBackend(inProcessBackend, new SourceBackend(true));
scheduler.on('task:start', (occupancy) => {
  journal.write({ ev: 'occupied', taskId: occupancy.taskId, token: occupancy.token, slotId: occupancy.slotId, backend: occupancy.backend });
  dieIfArmed('started');
});
scheduler.on('pass:error', (error) => journal.write({ ev: 'pass-error', error: error.message.slice(0, 300) }));

const slotConfig = Array.from({ length: config.slots }, (_, i) => ({ slotId: i + 1, backends: [backendOfSlot(i + 1, config.backends)] }));
// A replacement may start while the store is down (restarted, frozen): it tries until it loads.
for (let attempt = 1; ; attempt++) {
  try {
    await scheduler.load(slotConfig);
    break;
  } catch (error) {
    if (attempt === 150) fatal(error);
    journal.write({ ev: 'pass-error', error: `load: ${String(error).slice(0, 300)}` });
    await sleep(200);
  }
}
journal.write({ ev: 'ready', slots: config.slots, backends: [...new Set(slotConfig.map((slot) => slot.backends[0]!))], wallMs: Date.now() });
scheduler.start({ cron: config.cron });
const sweeper = setInterval(() => void sweepDeadHolders().catch(() => {}), 500);
const stopSampling = config.sampleEveryMs === undefined ? () => {} : startSelfSampler(journal, scheduler, config.sampleEveryMs);

process.once('SIGTERM', () => {
  clearInterval(sweeper);
  stopSampling();
  void scheduler
    .close()
    .then(() => {
      journal.write({ ev: 'closed' });
      source.close();
      process.exit(0);
    })
    .catch(fatal);
});
