/**
 * An AbortController made on first use. Most tasks end without anyone reading their signal, and an
 * AbortSignal (an EventTarget) is among the costliest objects a task start would otherwise make.
 * A signal first read after the abort is born aborted, with the same reason. `onAbort` listens
 * without making the signal at all.
 *
 * An optional `check` runs before every look at the state (`signal`, its `aborted` and
 * `throwIfAborted`, `onAbort`), and may fire the abort then: a condition judged by a clock (a
 * lease) is seen at the moment it is read, even when the timer that watches it has not run yet.
 */
export class LazyAbortController {
  private controller: AbortController | undefined;
  private fired = false;
  private reason: unknown;
  private listeners: Array<(reason: unknown) => void> | undefined;

  constructor(private readonly check?: () => void) {}

  get signal(): AbortSignal {
    this.check?.();
    this.controller ??= this.create();
    return this.controller.signal;
  }

  /** Whether the abort fired (without running `check`: the owner's own view). */
  get aborted(): boolean {
    return this.fired;
  }

  /**
   * Calls `listener` once with the reason when the abort comes, or at once if it already came.
   * Returns a function that removes it. A listener that throws does not stop the others: its
   * error is thrown again in a later tick, as an event listener's would be.
   */
  onAbort(listener: (reason: unknown) => void): () => void {
    this.check?.();
    if (this.fired) {
      listener(this.reason);
      return () => {};
    }
    (this.listeners ??= []).push(listener);
    return () => {
      const i = this.listeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.listeners!.splice(i, 1);
    };
  }

  /** Fires the signal once; later calls are no-ops. */
  abort(reason: unknown): void {
    if (this.fired) return;
    this.fired = true;
    this.reason = reason;
    this.controller?.abort(reason);
    const listeners = this.listeners ?? [];
    this.listeners = undefined;
    for (const listener of listeners) {
      try {
        listener(reason);
      } catch (error) {
        process.nextTick(() => {
          throw error;
        });
      }
    }
  }

  private create(): AbortController {
    const controller = new AbortController();
    if (this.fired) controller.abort(this.reason);
    const check = this.check;
    if (check) {
      // Own properties shadow AbortSignal's: a task that kept the signal and polls it sees the check too.
      const signal = controller.signal;
      Object.defineProperty(signal, 'aborted', {
        get: () => {
          check();
          return this.fired;
        },
      });
      Object.defineProperty(signal, 'throwIfAborted', {
        value: () => {
          check();
          if (this.fired) throw this.reason;
        },
      });
    }
    return controller;
  }
}
