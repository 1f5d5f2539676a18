/**
 * Remote cancels: the harness's own scheduler (same name and store as the fleet, no config loaded,
 * as a web process that only calls `cancel` would have) cancels tasks at random: a running one,
 * read from the store (by its token, or by id alone), an id fed earlier (running, waiting or
 * over), or an id never fed. What each call answered goes to the journal for the checker.
 * Until a task has honoured a cancel, every cancel is of a running task: even a short run shows
 * the main case, a running task told to stop.
 */
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import type { HarnessEvent } from './events.js';
import type { JournalWriter } from './journal.js';
import type { Rng } from './rng.js';
import type { WorkerConfig } from './worker-config.js';
import { storeOptions } from './worker-store.js';

/** How long the harness waits for a store call (a frozen store never answers); a late answer is still journaled. */
const waitMs = 3000;

export class Canceller {
  private readonly scheduler: Scheduler;
  private ghosts = 0;
  /** Whether the source has recorded a task cancelled; once true, stays so. */
  private honouredOne = false;
  /** Answers not yet journaled: close() waits for them, so none comes after the journal closes. */
  private readonly pending = new Set<Promise<void>>();

  constructor(
    store: WorkerConfig['store'],
    name: string,
    private readonly journal: JournalWriter<HarnessEvent>,
    /** How many task ids (`t1`…) were fed so far. */
    private readonly fedCount: () => number,
    /** How many tasks honoured a cancel so far, as the task source counts them. */
    private readonly honoured: () => Promise<number>,
  ) {
    this.scheduler = new Scheduler({
      name,
      ...storeOptions(store),
      logger: false,
    });
  }

  /**
   * One cancel, chosen by `rng` (a running task until one honoured a cancel); resolves once
   * answered, or after a few seconds without an answer.
   */
  async cancelOne(rng: Rng): Promise<void> {
    // A 12 s run makes about 8 cancels: picked at random alone, now and then none is of a running
    // task, or each misses its task, and the run never shows the case its test asserts.
    this.honouredOne ||= (await this.honoured()) > 0;
    const kind = this.honouredOne ? rng.pick(['running', 'running', 'running', 'running', 'fed', 'ghost'] as const) : 'running';
    if (kind === 'ghost') return this.cancel(`ghost${++this.ghosts}`, null, false);
    if (kind === 'fed') return this.fedCount() === 0 ? undefined : this.cancel(`t${rng.int(1, this.fedCount())}`, null, true);
    const slots = await within(this.scheduler.inspect());
    const running = (slots ?? []).flatMap((slot) => (slot.occupancy ? [slot.occupancy] : []));
    if (running.length === 0) return;
    const occupancy = rng.pick(running);
    return this.cancel(occupancy.taskId, rng.chance(0.5) ? occupancy.token : null, true);
  }

  async close(): Promise<void> {
    await within(Promise.all(this.pending));
    this.pending.clear();
    await this.scheduler.close();
  }

  private async cancel(taskId: string, token: number | null, fed: boolean): Promise<void> {
    this.journal.write({ ev: 'cancel', taskId, token, fed });
    const asked = token;
    const answer = this.scheduler.cancel(taskId, token === null ? {} : { token }).then(
      (r) => {
        const result = r.ok
          ? { ok: true, token: r.token, alreadyRequested: r.alreadyRequested }
          : {
              ok: false,
              reason: r.reason,
              ...(r.token === undefined ? {} : { token: r.token }),
              ...(r.endReason === undefined ? {} : { endReason: r.endReason }),
            };
        this.journal.write({ ev: 'cancel-result', taskId, asked, ...result });
      },
      (error: unknown) => void this.journal.write({ ev: 'cancel-result', taskId, asked, ok: false, error: String(error).slice(0, 300) }),
    );
    this.pending.add(answer);
    const settled = () => this.pending.delete(answer);
    answer.then(settled, settled); // not .finally: its copy of a rejection would go unhandled
    await within(answer);
  }
}

/** The promise's value, or undefined once {@link waitMs} passed (the promise goes on). */
async function within<T>(promise: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), waitMs)));
  try {
    return await Promise.race([promise.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}
