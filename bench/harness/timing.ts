/** Timing: throughput of a loop of operations, and the whole machine's CPU time from /proc/stat. */
import { readFileSync } from 'node:fs';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `workers` loops of `op` for `ms` milliseconds (after `warmupMs` of the same) and returns
 * completed operations per second. Each loop awaits its operation before starting the next. The
 * clock is read in the loop, not by a timer: an in-memory operation resolves in microtasks only,
 * so a timer would never get to fire. `beforeMeasure` runs between the warm-up and the measured
 * loops (e.g. to forget the warm-up's latency samples).
 */
export async function throughput(
  workers: number,
  ms: number,
  op: (worker: number, i: number) => Promise<unknown>,
  warmupMs = Math.min(500, ms / 4),
  beforeMeasure?: () => void,
): Promise<{ opsPerSec: number; ops: number; elapsedMs: number }> {
  let i = 0;
  const runFor = async (duration: number) => {
    let ops = 0;
    const began = performance.now();
    const deadline = began + duration;
    await Promise.all(
      Array.from({ length: workers }, async (_, worker) => {
        while (performance.now() < deadline) {
          await op(worker, i++);
          ops++;
        }
      }),
    );
    return { ops, elapsedMs: performance.now() - began };
  };
  if (warmupMs > 0) await runFor(warmupMs);
  beforeMeasure?.();
  const { ops, elapsedMs } = await runFor(ms);
  return { opsPerSec: (ops / elapsedMs) * 1000, ops, elapsedMs };
}

/** Busy and stolen CPU time of the whole machine over an interval, from /proc/stat. */
export interface MachineCpu {
  /** user + nice + system + irq + softirq, all cores, in ms. */
  busyMs: number;
  /** Time the hypervisor ran something else while this machine wanted to run, as a % of the interval's CPU time. */
  stealPercent: number;
}

/** /proc/stat's first line, in clock ticks (null off Linux): user nice system idle iowait irq softirq steal. */
export function machineCpu(): number[] | null {
  try {
    return readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  } catch {
    return null;
  }
}

export function machineCpuSince(before: number[] | null): MachineCpu | null {
  const after = machineCpu();
  if (!before || !after) return null;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = after.map((ticks, i) => ticks - before[i]!) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // Linux reports /proc/stat in USER_HZ, 100 per second on every common architecture.
  const msPerTick = 10;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busyMs: (user + nice + system + irq + softirq) * msPerTick, stealPercent: total > 0 ? (steal / total) * 100 : 0 };
}
