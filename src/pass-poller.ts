import { canPollBatch, type Backend, type PollContext } from '../backends/backend.js';
import type { SlotId } from '../slots/store.js';
import { callWithTimeout } from './call.js';
import { PollResultError } from './errors.js';

/** How the poller reports a failed poll (logged and emitted by the scheduler). */
export type PollFailure = (backend: string, slotId: SlotId, error: Error) => void;

/**
 * Polls backends for one `schedule()` pass. It keeps the pass's rules in one place:
 * - a backend whose poll found nothing, failed or hung is not polled again in this pass;
 * - a task id already handed out in this pass counts as nothing (a backend that does not mark
 *   its tasks until `startCallback` would otherwise give every slot the same id);
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

  constructor(
    private readonly backends: ReadonlyMap<string, Backend>,
    private readonly pollTimeoutMs: number,
    private readonly onFailure: PollFailure,
  ) {}

  /**
   * The next task id from `name` for `slotId`, or null when the backend has nothing more in this pass.
   * @param wanted - how many slots may still take an id from this backend (sizes batch polls)
   */
  next(name: string, slotId: SlotId, wanted: number): Promise<string | null> {
    const previous = this.chains.get(name);
    const result = previous ? previous.then(() => this.nextNow(name, slotId, wanted)) : this.nextNow(name, slotId, wanted);
    this.chains.set(name, result.catch(() => {}));
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
   * Ids polled in this pass that no slot started: repeats of an id already handed out
   * (`duplicate`), and ids a batch poll returned beyond what slots took (`unused`). A backend
   * that claims tasks when polled must hear of them, or they would be lost.
   */
  unstarted(): Array<{ backend: string; taskId: string; slotId: SlotId; reason: 'duplicate' | 'unused' }> {
    const unused = [...this.buffers].flatMap(([backend, ids]) =>
      ids.filter((id) => id !== EXHAUSTED).map((taskId) => ({ backend, taskId, slotId: '', reason: 'unused' as const })),
    );
    const repeats = this.repeats.map((repeat) => ({ ...repeat, reason: 'duplicate' as const }));
    this.buffers.clear();
    this.repeats.length = 0;
    return [...repeats, ...unused];
  }

  private async poll(name: string, slotId: SlotId, wanted: number): Promise<string | null> {
    const backend = this.backends.get(name)!;
    const controller = new AbortController();
    const context: PollContext = { slotId, backend: name, signal: controller.signal };
    this.polls++;
    try {
      if (canPollBatch(backend) && wanted > 1) {
        const ids = await callWithTimeout(() => backend.pollBatch(wanted, context), this.pollTimeoutMs, 'pollBatch', { backend: name, slotId }, controller);
        if (!Array.isArray(ids)) throw new PollResultError(name, slotId, ids);
        const valid = ids.map((id) => taskIdOf(id, name, slotId)).filter((id): id is string => id !== null);
        // Fewer ids than asked: the backend is drained for this pass once the buffer is.
        if (valid.length < wanted) valid.push(EXHAUSTED);
        this.buffers.set(name, valid);
        return valid.shift()!;
      }
      const result = await callWithTimeout(() => backend.poll(context), this.pollTimeoutMs, 'poll', { backend: name, slotId }, controller);
      return taskIdOf(result, name, slotId);
    } catch (error) {
      this.onFailure(name, slotId, error as Error);
      return null;
    }
  }
}

/** Marks the end of a short batch inside a buffer. A NUL byte cannot come from `taskIdOf`. */
const EXHAUSTED = '\u0000';

/** Python's rule, kept: a falsy result means nothing; anything else must be a string. */
function taskIdOf(value: unknown, backend: string, slotId: SlotId): string | null {
  if (value === null || value === undefined || value === '' || value === false) return null;
  if (typeof value !== 'string' || value.includes('\u0000')) throw new PollResultError(backend, slotId, value);
  return value;
}
