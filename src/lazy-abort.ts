/**
 * An AbortController made on first use. Most tasks end without anyone reading their signal, and an
 * AbortSignal (an EventTarget) is among the costliest objects a task start would otherwise make.
 * A signal first read after the abort is born aborted, with the same reason.
 */
export class LazyAbortController {
  private controller: AbortController | undefined;
  private fired = false;
  private reason: unknown;

  get signal(): AbortSignal {
    this.controller ??= this.create();
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.fired;
  }

  /** Fires the signal once; later calls are no-ops. */
  abort(reason: unknown): void {
    if (this.fired) return;
    this.fired = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }

  private create(): AbortController {
    const controller = new AbortController();
    if (this.fired) controller.abort(this.reason);
    return controller;
  }
}
