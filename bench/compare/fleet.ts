/**
 * A fleet: the processes of a multi-process workload (W4, W7), each a fleet-worker.ts running one
 * role, driven over IPC by the measuring process: setup → ready, go, mark, report, close.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type FleetMessage =
  | { type: 'ready' }
  /** W4: this worker finished the run's last job. */
  | { type: 'last' }
  | { type: 'report'; report: Record<string, number> }
  | { type: 'error'; message: string };

/** What a fleet worker does with each command; made by its workload from the role it was given. */
export interface FleetMember {
  go(): void | Promise<void>;
  /** W7: start counting now. */
  mark?(): void;
  report(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export type Send = (message: FleetMessage) => void;

const workerPath = fileURLToPath(new URL('./fleet-worker.js', import.meta.url));
const live = new Set<Fleet>();

/** Kills every fleet still running in this process (on an interrupt or a failure). */
export function killFleets(): void {
  for (const fleet of live) fleet.kill();
}

export class Fleet {
  private readonly waiters = new Set<{ onMessage(index: number, message: FleetMessage): void; fail(error: Error): void }>();
  private closing = false;
  private failure: Error | undefined;

  private constructor(private readonly workers: ChildProcess[]) {
    live.add(this);
    workers.forEach((worker, index) => {
      worker.on('message', (message: FleetMessage) => {
        if (message.type === 'error') this.fail(new Error(`fleet worker ${index + 1}: ${message.message}`));
        else for (const waiter of [...this.waiters]) waiter.onMessage(index, message);
      });
      worker.on('exit', (code, signal) => {
        if (!this.closing) this.fail(new Error(`fleet worker ${index + 1} exited (${signal ?? `code ${code}`})`));
      });
    });
  }

  /** Forks `count` workers, gives each `role` (with its index), and waits until all are ready. */
  static async start(count: number, role: Record<string, unknown>, timeoutMs = 120_000): Promise<Fleet> {
    const workers = Array.from({ length: count }, () => fork(workerPath, [], { stdio: ['ignore', 2, 2, 'ipc'], execArgv: [] }));
    const fleet = new Fleet(workers);
    const ready = fleet.all('ready', timeoutMs);
    workers.forEach((worker, index) => worker.send({ type: 'setup', role: { ...role, index } }));
    try {
      await ready;
    } catch (error) {
      fleet.kill();
      throw error;
    }
    return fleet;
  }

  broadcast(type: 'go' | 'mark' | 'report' | 'close'): void {
    for (const worker of this.workers) if (worker.connected) worker.send({ type });
  }

  /** The first message of `type` from any worker. */
  first(type: FleetMessage['type'], timeoutMs: number): Promise<FleetMessage> {
    return this.wait(timeoutMs, `a ${type}`, (_index, message, done) => {
      if (message.type === type) done(message);
    });
  }

  /** One message of `type` from each worker, in worker order. */
  all(type: FleetMessage['type'], timeoutMs: number): Promise<FleetMessage[]> {
    const got = new Map<number, FleetMessage>();
    return this.wait(timeoutMs, `${type} from all ${this.workers.length}`, (index, message, done) => {
      if (message.type !== type) return;
      got.set(index, message);
      if (got.size === this.workers.length) done(this.workers.map((_, i) => got.get(i)!));
    });
  }

  /**
   * Asks every worker for its report, then to close, and waits for them to exit (killed after
   * `timeoutMs`). The reports, in worker order.
   */
  async close(timeoutMs = 60_000): Promise<Record<string, number>[]> {
    const asked = this.all('report', timeoutMs);
    this.broadcast('report');
    const reports = (await asked).map((m) => (m as Extract<FleetMessage, { type: 'report' }>).report);
    this.closing = true;
    const exited = Promise.all(
      this.workers.map((w) => (w.exitCode !== null || w.signalCode !== null ? undefined : new Promise((r) => w.once('exit', r)))),
    );
    this.broadcast('close');
    const timer = setTimeout(() => this.kill(), timeoutMs);
    await exited;
    clearTimeout(timer);
    live.delete(this);
    return reports;
  }

  kill(): void {
    this.closing = true;
    for (const worker of this.workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    live.delete(this);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of [...this.waiters]) waiter.fail(error);
  }

  private wait<T>(
    timeoutMs: number,
    what: string,
    onMessage: (index: number, message: FleetMessage, done: (value: T) => void) => void,
  ): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        onMessage: (index: number, message: FleetMessage) => onMessage(index, message, finish),
        fail: (error: Error) => {
          cleanup();
          reject(error);
        },
      };
      const timer = setTimeout(() => waiter.fail(new Error(`no ${what} within ${timeoutMs / 1000} s`)), timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      function finish(value: T) {
        cleanup();
        resolve(value);
      }
      this.waiters.add(waiter);
    });
  }
}
