/**
 * The scheduler process under test in a fault run. It serves the fleet's slots on the run's store,
 * takes task ids from the harness's task source, runs each as work of random length, and writes
 * what its tasks do to its own journal file (harness/events.ts): the checker's only evidence.
 *
 * A task looks at its signal before each step and stops at once when it fires; it keeps itself
 * alive every quarter timeout; once done it records its completion in the source (fenced by its
 * token), then calls `stop()`. A task told of a cancel records itself cancelled in the source (so
 * fenced too), then calls `stop()`. Nothing is lost and nothing runs twice, through the source's
 * states (harness/task-source.ts):
 * - a rejected start, or a poll abandoned past its time limit, hands the claim back (but not an id
 *   returned on a `duplicate` order, which this process never claimed);
 * - `stopCallback` with any reason but `stopped`/`cancelled` (timeout, lost, start_failed...)
 *   queues the task again if that occupancy still holds it: a task that lost its slot is run again
 *   (and a start that failed before taking its claim over gives the claim back);
 * - a sweep gives back the tasks claimed or run by processes that no longer exist (killed), as a
 *   queue's stalled-job recovery would: nothing else would, should the store lose their occupancy.
 *   The store still refuses to start such a task elsewhere (duplicate) while its occupancy lasts.
 *
 * The harness injects faults from outside (SIGKILL, SIGSTOP) and through orders (harness/control.ts):
 * kill itself at a chosen phase, block the event loop in a task's step, have its next poll or
 * callback misbehave (harness/misbehave.ts), or have its next poll return the id of a task that
 * holds a slot. It journals the scheduler's `poll:error`, `callback:error` and `task:stop`.
 *
 * Configuration: FAULT_WORKER, a JSON WorkerConfig (harness/worker-config.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Backend, type PollContext, type RejectInfo, type StopOutcome, type TaskContext } from '../../src/contracts/backend.js';
import { CallTimeoutError, TaskAbortedError } from '../../src/core/errors.js';
import type { TaskRef } from './harness/events.js';
import { monotonicNs } from './harness/journal.js';
import { abortOf, InjectedError, misbehaveAround, never, type Order } from './harness/misbehave.js';
import { Rng } from './harness/rng.js';
import { startSelfSampler } from './harness/self-sampler.js';
import { TaskSource } from './harness/task-source.js';
import { backendOfSlot, inProcessBackend, remoteBackend } from './harness/worker-config.js';
import {
  alive,
  closeOnSigterm,
  faultScheduler,
  loadUntilReady,
  Orders,
  runSteps,
  startWorkerProcess,
  stepsOf,
} from './harness/worker-process.js';

const { config, journal, fatal } = startWorkerProcess('fault-worker');
const source = new TaskSource(config.sourceUrl);
const rng = new Rng(config.seed).fork(String(process.pid));
const pid = process.pid;
// Orders from the harness: kill itself at a phase, block the event loop in a task's step, misbehave, poll a duplicate.
const orders = new Orders(config.runDir, journal);
const misbehaviours = orders.misbehaviours;

// --- tasks ------------------------------------------------------------------------------------

const causeOf = (reason: unknown) => (reason instanceof TaskAbortedError ? reason.abortCause : String(reason));

/** Runs one task's work: steps, each after a look at its signal, then its completion and `stop()`. */
async function execute(context: TaskContext): Promise<void> {
  const ref: TaskRef = { taskId: context.taskId, token: context.token, slotId: context.slotId };
  const keepaliveEvery = Math.max(1, Math.floor(config.timeoutMs / 4 / config.tasks.stepMs));
  journal.write({ ev: 'exec-start', ...ref });
  // The look before each step: after a stall, the signal checks the lease as it is read.
  const { aborted, done, lastGo } = await runSteps(context.signal, stepsOf(config, rng), config.tasks.stepMs, orders, (step) => {
    if (step % keepaliveEvery !== 0) return;
    journal.write({ ev: 'keepalive', ...ref });
    void context.keepalive().catch(() => {});
  });
  if (aborted) {
    if (causeOf(context.signal.reason) !== 'cancel_requested')
      return void journal.write({ ev: 'exec-end', ...ref, outcome: 'aborted', steps: done, lastGo });
    // A cancel: the source records the task cancelled (fenced by the token), then stop() ends it.
    const cancelled = await source.cancel(ref.taskId, ref.token);
    journal.write({ ev: 'exec-end', ...ref, outcome: cancelled ? 'cancelled' : 'fenced', steps: done, lastGo });
    return stop(context, ref, 'cancel-honoured');
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

  // Not async: a `throw` order must throw synchronously, as a plain function's would.
  override poll(context: PollContext): Promise<string | null> {
    const order = misbehaviours.take('poll', { slotId: context.slotId, taskId: null, token: null });
    if (order?.how === 'throw') throw new InjectedError('poll', order.how);
    if (order?.how === 'reject') return Promise.reject(new InjectedError('poll', order.how));
    // Hangs before claiming anything: a task claimed by a call that never returns would be lost.
    if (order?.how === 'hang') return never();
    return this.pollSource(context, order);
  }

  /** Claims the next task (or, on order, names one that holds a slot); a slow poll answers past its limit. */
  private async pollSource({ slotId, signal }: PollContext, order: Order | undefined): Promise<string | null> {
    // One fault per poll: a misbehaving poll leaves the duplicate order to the next.
    const duplicate = order === undefined && monotonicNs() < orders.duplicateBefore ? await runningTask() : null;
    if (duplicate) {
      orders.duplicateBefore = 0;
      injected.add(injectedKey(duplicate.taskId, slotId));
      journal.write({ ev: 'dup-poll', taskId: duplicate.taskId, slotId, holder: duplicate.pid });
      return duplicate.taskId;
    }
    const taskId = await source.pop(pid);
    if (taskId !== null) {
      journal.write({ ev: 'pop', taskId, slotId });
      orders.dieIfArmed('poll');
    }
    if (order?.how === 'slow') await sleep(order.ms);
    // An abort event already past (the process was stalled) never comes again: look first.
    if (order?.how === 'hang-signal' && !signal.aborted)
      await abortOf((listener) => signal.addEventListener('abort', listener, { once: true }));
    if (taskId !== null && signal.aborted) {
      // Past pollTimeout the scheduler ignores what the poll returns: the claim must go back.
      const handedBack = await source.handBack(taskId, pid);
      journal.write({ ev: 'poll-abandoned', taskId, handedBack });
      return null;
    }
    return taskId;
  }

  // Not async, for the same reason as poll.
  override startCallback(taskId: string, context: TaskContext): Promise<void> {
    const ref: TaskRef = { taskId, token: context.token, slotId: context.slotId };
    // First: whatever fires the signal (start_failed included) is in the journal.
    context.onAbort((reason) => journal.write({ ev: 'abort', ...ref, cause: causeOf(reason) }));
    injected.delete(injectedKey(taskId, context.slotId));
    const order = misbehaviours.take('startCallback', ref);
    // Throws before taking the claim over: the start_failed end gives it back (stopCallback).
    if (order?.how === 'throw') throw new InjectedError('startCallback', order.how);
    const begin = async () => {
      const begun = await source.begin(taskId, pid, context.token);
      journal.write({ ev: 'start-callback', ...ref, backend: context.backend, inProcess: this.runsInProcess, begun });
      return begun;
    };
    // Never begun: this process no longer holds the claim, so the task must not run here.
    const launch = (begun: boolean) => (begun ? void execute(context).catch(fatal) : void stop(context, ref, 'stale'));
    switch (order?.how) {
      case undefined:
        return begin().then(launch);
      case 'reject':
        // A start that fails launches nothing; the claim is taken over, so the end queues it again.
        return begin().then(() => Promise.reject(new InjectedError('startCallback', order.how)));
      case 'hang':
        return begin().then(never);
      case 'slow':
      case 'hang-signal': {
        // Launched late (the task then finds its signal fired at its first look), as a slow backend would.
        const late = order.how === 'slow' ? () => sleep(order.ms) : () => abortOf((listener) => context.onAbort(listener));
        return begin().then(async (begun) => {
          await late();
          launch(begun);
        });
      }
    }
  }

  override stopCallback(taskId: string, outcome: StopOutcome): Promise<void> {
    const ref: TaskRef = { taskId, token: outcome.token, slotId: outcome.slotId };
    const redelivered = (outcome as StopOutcome & { redelivered?: boolean }).redelivered === true;
    journal.write({ ev: 'stop-callback', ...ref, reason: outcome.reason, owner: outcome.owner, redelivered });
    const order = misbehaviours.take('stopCallback', ref);
    return misbehaveAround('stopCallback', order, async () => {
      const finished = outcome.reason === 'stopped' || outcome.reason === 'cancelled';
      let requeued = finished ? false : await source.requeue(taskId, outcome.token);
      // A start that failed before taking its claim over: the claim goes back from its claimer.
      if (!requeued && outcome.reason === 'start_failed') requeued = await source.handBack(taskId, ownerPid(outcome.owner));
      journal.write({ ev: 'stop-callback-done', ...ref, requeued });
    });
  }

  override rejectCallback(taskId: string, info: RejectInfo): Promise<void> {
    const order = misbehaviours.take('rejectCallback', { slotId: info.slotId, taskId, token: null });
    return misbehaveAround('rejectCallback', order, async () => {
      const reject = { ev: 'reject', taskId, slotId: info.slotId, reason: info.reason, retryAfterMs: info.retryAfterMs ?? null } as const;
      // An injected duplicate was never claimed here: giving it back would take the holder's claim.
      if (injected.delete(injectedKey(taskId, info.slotId))) return void journal.write({ ...reject, handedBack: false, injected: true });
      const handedBack = await source.handBack(taskId, pid, info.retryAfterMs ?? 0);
      journal.write({ ...reject, handedBack });
    });
  }
}

/** Ids this process's polls returned on a `duplicate` order, by task and slot: never claimed here. */
const injected = new Set<string>();
const injectedKey = (taskId: string, slotId: string) => `${slotId}:${taskId}`;

/** A task that holds a slot now (run by any process), from the source, or null if none does. */
async function runningTask(): Promise<{ taskId: string; pid: number } | null> {
  const running = (await source.holders()).filter((holder) => holder.held === 'run');
  return running.length > 0 ? rng.pick(running) : null;
}

/** The pid in a scheduler's default owner id, `<hostname>:<pid>:<random>`. */
const ownerPid = (owner: string) => Number(owner.split(':').at(-2));

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
scheduler.on('poll:error', ({ backend, slotId, error }) =>
  journal.write({ ev: 'poll-error', backend, slotId, timeout: error instanceof CallTimeoutError, error: error.message.slice(0, 300) }),
);
scheduler.on('callback:error', ({ callback, taskId, error }) =>
  journal.write({ ev: 'callback-error', callback, taskId, timeout: error instanceof CallTimeoutError, error: error.message.slice(0, 300) }),
);
scheduler.on('task:stop', (ended) =>
  journal.write({
    ev: 'delivered',
    taskId: ended.taskId,
    token: ended.token,
    slotId: ended.slotId,
    reason: ended.reason,
    redelivered: ended.redelivered === true,
  }),
);

const slotConfig = Array.from({ length: config.slots }, (_, i) => ({ slotId: i + 1, backends: [backendOfSlot(i + 1, config.backends)] }));
await loadUntilReady(scheduler, slotConfig, journal, fatal);
journal.write({
  ev: 'ready',
  slots: config.slots,
  backends: [...new Set(slotConfig.map((slot) => slot.backends[0]!))],
  wallMs: Date.now(),
});
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
