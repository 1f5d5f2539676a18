import { performance } from 'node:perf_hooks';
import { canPollBatch, type Backend, type PollContext } from '../contracts/backend.js';
import type { SlotId } from '../contracts/store.js';
import { taskIdProblem } from '../contracts/task-id.js';
import { callWithTimeout } from '../core/call.js';
import { PollResultError } from '../core/errors.js';
import { LazyAbortController } from '../core/lazy-abort.js';

/** What a poll that answered reports: the scheduler emits it as `poll:end`. */
export interface PollEnd {
  backend: string;
  /** The slot the poll was made for (a batch poll: the slot that asked first). */
  slotId: SlotId;
  durationMs: number;
  /** How many task ids the poll returned: 0 for an empty poll; a batch poll may return several. */
  found: number;
}

/** How the poller reports each poll to the scheduler, which logs and emits them. */
export interface PollReports {
  /** A poll answered (`poll:end`). */
  answered(end: PollEnd): void;
  /** A poll threw, hung or returned a bad value (`poll:error`). */
  failed(backend: string, slotId: SlotId, error: Error): void;
}

/** A polled id that no slot started, with what its backend must hear (see `RejectInfo`). */
export interface Unstarted {
  backend: string;
  taskId: string;
  /** The slot it was polled for; '' for a batch id no slot took. */
  slotId: SlotId;
  reason: 'duplicate' | 'unused' | 'invalid_id';
  /** Absent for `invalid_id`: no store will ever take the id. */
  retryAfterMs?: number;
  /** For `invalid_id`: the rule of the task-id grammar it breaks. */
  problem?: string;
}

/**
 * Polls backends for one `schedule()` pass. It keeps the pass's rules in one place:
 * - a backend whose poll found nothing, failed or hung is not polled again in this pass;
 * - a task id already handed out in this pass counts as nothing (a backend that does not mark
 *   its tasks until `startCallback` would otherwise give every slot the same id);
 * - an id that breaks the task-id grammar is never handed out: its backend gets it back
 *   (`invalid_id`), and a single poll that returned one is not made again in this pass;
 * - a backend that can poll in batches is asked once for as many ids as slots are waiting;
 * - calls for one backend run one after another, in the order slots ask, while the slots of a
 *   pass fill concurrently (so their store round trips overlap).
 */
export class PassPoller {
  /** Backend poll calls made (batch calls count once). */
  polls = 0;
  /** Whether some backend returned an id already handed out: it may have more once those tasks start. */
  sawRepeat = false;
  /** The last call per backend, which the next call for that backend waits for. */
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly exhausted = new Set<string>();
  private readonly seen = new Set<string>();
  private readonly buffers = new Map<string, string[]>();
  /** Ids returned again after being handed out in this pass: not started, so their backend must hear of it. */
  private readonly repeats: Array<{ backend: string; taskId: string; slotId: SlotId }> = [];
  /** Ids that break the task-id grammar, held back from the slots. */
  private readonly invalid: Unstarted[] = [];
  /** For ids handed out: how long until the first copy's fate may let a repeat start (see {@link settled}). */
  private readonly retryAfter = new Map<string, number>();

  constructor(
    private readonly backends: ReadonlyMap<string, Backend>,
    private readonly pollTimeoutMs: number,
    private readonly reports: PollReports,
  ) {}

  /**
   * The next task id from `name` for `slotId`, or null when the backend has nothing more in this pass.
   * @param wanted - how many slots may still take an id from this backend (sizes batch polls)
   */
  next(name: string, slotId: SlotId, wanted: number): Promise<string | null> {
    const previous = this.chains.get(name);
    const result = previous ? previous.then(() => this.nextNow(name, slotId, wanted)) : this.nextNow(name, slotId, wanted);
    this.chains.set(
      name,
      result.catch(() => {}),
    );
    return result;
  }

  private async nextNow(name: string, slotId: SlotId, wanted: number): Promise<string | null> {
    while (!this.exhausted.has(name)) {
      const buffer = this.buffers.get(name);
      const fromBuffer = buffer !== undefined && buffer.length > 0;
      const taskId = fromBuffer ? buffer.shift()! : await this.poll(name, slotId, wanted);
      if (taskId === null || taskId === EXHAUSTED) {
        this.exhausted.add(name);
        return null;
      }
      if (!this.seen.has(taskId)) {
        this.seen.add(taskId);
        return taskId;
      }
      // A repeat from a single poll means the backend has nothing new; a repeat inside a batch is skipped.
      this.repeats.push({ backend: name, taskId, slotId });
      this.sawRepeat = true;
      if (!fromBuffer) this.exhausted.add(name);
    }
    return null;
  }

  /**
   * What became of an id handed out in this pass, as the time until a repeat of it could start:
   * the occupancy now holding it ends by itself, or 0 when it may be offered again at once.
   */
  settled(taskId: string, retryAfterMs: number): void {
    this.retryAfter.set(taskId, retryAfterMs);
  }

  /**
   * Ids polled in this pass that no slot started: repeats of an id already handed out
   * (`duplicate`), ids a batch poll returned beyond what slots took (`unused`), and ids that
   * break the task-id grammar (`invalid_id`). A backend that claims tasks when polled must hear
   * of them, or they would be lost.
   */
  unstarted(): Unstarted[] {
    const unused = [...this.buffers].flatMap(([backend, ids]) =>
      ids.filter((id) => id !== EXHAUSTED).map((taskId): Unstarted => ({ backend, taskId, slotId: '', reason: 'unused', retryAfterMs: 0 })),
    );
    const repeats = this.repeats.map((repeat): Unstarted => ({
      ...repeat,
      reason: 'duplicate',
      retryAfterMs: this.retryAfter.get(repeat.taskId) ?? 0,
    }));
    const invalid = [...this.invalid];
    this.buffers.clear();
    this.repeats.length = 0;
    this.invalid.length = 0;
    return [...invalid, ...repeats, ...unused];
  }

  private async poll(name: string, slotId: SlotId, wanted: number): Promise<string | null> {
    const backend = this.backends.get(name)!;
    // Lazy: most backends never read the signal, and making one costs more than a memory poll.
    const controller = new LazyAbortController();
    const context: PollContext = {
      slotId,
      backend: name,
      get signal() {
        return controller.signal;
      },
    };
    this.polls++;
    const began = performance.now();
    try {
      if (canPollBatch(backend) && wanted > 1) {
        const ids = await callWithTimeout(
          () => backend.pollBatch(wanted, context),
          this.pollTimeoutMs,
          'pollBatch',
          { backend: name, slotId },
          controller,
        );
        if (!Array.isArray(ids)) throw new PollResultError(name, slotId, ids);
        const found = ids.map((id) => taskIdOf(id, name, slotId)).filter((id): id is string => id !== null);
        this.reports.answered({ backend: name, slotId, durationMs: performance.now() - began, found: found.length });
        const valid = found.filter((id) => this.isValid(id, name, slotId));
        // Fewer ids than asked: the backend is drained for this pass once the buffer is.
        if (valid.length < wanted) valid.push(EXHAUSTED);
        this.buffers.set(name, valid);
        return valid.shift()!;
      }
      const result = await callWithTimeout(() => backend.poll(context), this.pollTimeoutMs, 'poll', { backend: name, slotId }, controller);
      const taskId = taskIdOf(result, name, slotId);
      this.reports.answered({ backend: name, slotId, durationMs: performance.now() - began, found: taskId === null ? 0 : 1 });
      // Polled again, a source that does not claim would return the same bad id: not this pass.
      return taskId === null || this.isValid(taskId, name, slotId) ? taskId : null;
    } catch (error) {
      this.reports.failed(name, slotId, error as Error);
      return null;
    }
  }

  /** True for an id of the task-id grammar; any other is kept to be handed back. */
  private isValid(taskId: string, backend: string, slotId: SlotId): boolean {
    const problem = taskIdProblem(taskId);
    if (problem !== null) this.invalid.push({ backend, taskId, slotId, reason: 'invalid_id', problem });
    return problem === null;
  }
}

/** Marks the end of a short batch inside a buffer. A NUL never reaches a buffer: no task id has one. */
const EXHAUSTED = '\u0000';

/** Python's rule, kept: a falsy result means nothing; anything else must be a string. */
function taskIdOf(value: unknown, backend: string, slotId: SlotId): string | null {
  if (value === null || value === undefined || value === '' || value === false) return null;
  if (typeof value !== 'string') throw new PollResultError(backend, slotId, value);
  return value;
}
