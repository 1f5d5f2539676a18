/**
 * The worker processes of a fault run: spawned with their config, replaced when killed, signalled
 * by the faults, and stopped at the end. Every start, exit and signal goes to the harness journal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { sendControl, type Control, type KillPhase } from './control.js';
import type { HarnessEvent } from './events.js';
import { journalPath, monotonicNs, type JournalWriter } from './journal.js';
import type { WorkerConfig } from './worker-config.js';

const workerScript = fileURLToPath(new URL('../fault-worker.js', import.meta.url));

/** Resolves once `child` has exited. */
const exitOf = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

/** How the fleet starts its processes, beyond the worker config; every field optional. */
export interface FleetOptions {
  /** Extra arguments of node before the script (e.g. `--expose-gc` for a soak's samples). */
  nodeArgs?: readonly string[];
  /**
   * A command each member's node runs under, by member index (e.g. `['faketime', '-f', '+7m']`),
   * or an empty list for none; a replacement runs under its member's.
   */
  commandPrefix?: (index: number) => readonly string[];
  /** Extra environment of every worker. */
  env?: Readonly<Record<string, string>>;
  /** The worker process's script; default fault-worker.js. */
  script?: string;
}

export class Fleet {
  /** The current process of each member: a killed member is replaced by a new process. */
  private readonly members: ChildProcess[] = [];
  /** Every process spawned, for the final cleanup. */
  private readonly spawned = new Set<ChildProcess>();
  private ending = false;

  constructor(
    private readonly config: WorkerConfig,
    private readonly size: number,
    private readonly journal: JournalWriter<HarnessEvent>,
    private readonly options: FleetOptions = {},
  ) {}

  /** Spawns the members and waits until each has loaded its config. */
  async start(readyWithinMs = 30_000): Promise<void> {
    for (let i = 0; i < this.size; i++) this.members.push(this.spawnWorker(i, null));
    await Promise.all(this.members.map((child) => this.ready(child.pid!, readyWithinMs)));
  }

  /** Pids of the current members. */
  pids(): number[] {
    return this.members.map((child) => child.pid!);
  }

  /** SIGKILL now; `phase` says why now: `fallback` for an armed worker that did not reach its phase. */
  kill(pid: number, phase?: 'fallback'): void {
    this.signal(pid, 'SIGKILL');
    this.journal.write({ ev: 'fault', fault: 'kill', target: pid, ...(phase ? { phase } : {}) });
  }

  /** Arms the worker to kill itself at `phase`; killed anyway if it has not died within `ms`. */
  async armKill(pid: number, phase: KillPhase, ms: number): Promise<void> {
    this.journal.write({ ev: 'fault', fault: 'arm-kill', target: pid, phase });
    sendControl(this.config.runDir, pid, { action: 'die', phase });
    const child = this.memberOf(pid);
    if (!child) return;
    const died = await Promise.race([exitOf(child).then(() => true), sleep(ms).then(() => false)]);
    if (!died) this.kill(pid, 'fallback');
  }

  /** SIGSTOP, and SIGCONT `ms` later. */
  async stop(pid: number, ms: number): Promise<void> {
    this.signal(pid, 'SIGSTOP');
    this.journal.write({ ev: 'fault', fault: 'stop', target: pid, ms });
    await sleep(ms);
    // Written before the signal: the process cannot run a step before the line is in the journal.
    this.journal.write({ ev: 'fault', fault: 'cont', target: pid });
    this.signal(pid, 'SIGCONT');
  }

  /** Orders the worker's next poll or callback to misbehave, or its next poll to return the id of a running task. */
  order(pid: number, control: Extract<Control, { action: 'misbehave' | 'duplicate' }>): void {
    const details = control.action === 'misbehave' ? { call: control.call, how: control.how, ms: control.ms } : {};
    this.journal.write({ ev: 'fault', fault: control.action, target: pid, ...details });
    sendControl(this.config.runDir, pid, control);
  }

  /** Has the next task step of the worker block its event loop for `ms` (if one comes within a second). */
  block(pid: number, ms: number): void {
    this.journal.write({ ev: 'fault', fault: 'block', target: pid, ms });
    sendControl(this.config.runDir, pid, { action: 'block', ms, before: monotonicNs() + 1e9 });
  }

  /**
   * Stops the fleet: SIGTERM to every member (each closes its scheduler), SIGKILL to those still
   * there after `graceMs`.
   */
  async shutdown(graceMs = 15_000): Promise<void> {
    this.ending = true;
    const live = [...this.spawned].filter((child) => child.exitCode === null && child.signalCode === null);
    for (const child of live) {
      child.kill('SIGCONT');
      child.kill('SIGTERM');
    }
    await Promise.race([Promise.all(live.map(exitOf)), sleep(graceMs)]);
    this.killAll();
  }

  /** SIGKILL to every process still alive (the teardown's last resort). */
  killAll(): void {
    this.ending = true;
    for (const child of this.spawned) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  private memberOf(pid: number): ChildProcess | undefined {
    return this.members.find((child) => child.pid === pid);
  }

  private signal(pid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(pid, signal);
    } catch {
      // Exited meanwhile: its exit is in the journal.
    }
  }

  /** Spawns the worker of member `index`; when it dies during the run, a replacement takes its place. */
  private spawnWorker(index: number, replaces: number | null): ChildProcess {
    // Its stderr (the scheduler's warnings) goes to a file beside the journal, for the post-mortem.
    const log = openSync(join(this.config.runDir, `worker-${index}.log`), 'a');
    const prefix = this.options.commandPrefix?.(index) ?? [];
    const nodeCommand = [process.execPath, ...(this.options.nodeArgs ?? []), this.options.script ?? workerScript];
    const [command, ...args] = [...prefix, ...nodeCommand] as [string, ...string[]];
    const child = spawn(command, args, {
      env: { ...process.env, ...this.options.env, FAULT_WORKER: JSON.stringify(this.config) },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.spawned.add(child);
    this.journal.write({ ev: 'spawn', child: child.pid!, replaces });
    child.once('exit', (code, signal) => {
      this.journal.write({ ev: 'exit', child: child.pid!, code, signal });
      if (this.ending) return;
      this.members[index] = this.spawnWorker(index, child.pid!);
    });
    return child;
  }

  /** Waits for the worker's `ready` line. */
  private async ready(pid: number, ms: number): Promise<void> {
    const path = journalPath(this.config.runDir, 'worker', pid);
    const deadline = Date.now() + ms;
    while (!(existsSync(path) && readFileSync(path, 'utf8').includes('"ev":"ready"'))) {
      if (Date.now() > deadline) throw new Error(`worker ${pid} did not load its config within ${ms} ms (see ${this.config.runDir})`);
      await sleep(50);
    }
  }
}
