/**
 * The soak's verdict on what it sampled: after a warm-up, the judged window (up to the end of the
 * feed) is cut in thirds, and the median of the last third is compared with the median of the
 * first. Medians, so that one sample taken mid-burst moves nothing; thirds, so that a steady
 * growth shows as the distance between them. A pure function of the journal, like the checker.
 *
 * - heap after a forced GC, per worker: may grow at most `heapBytes` and at most `heapShare`, plus
 *   `heapPerTask` for each task more under way (the median of the last third against the first:
 *   a fleet still ramping up holds more tasks, each with its context, timers and buffers);
 * - open handles, per worker and kind: in the last third, at the first third's level, give or take
 *   `handles` and `handleShare` (timers aside: each task under way holds one, and a worker's share
 *   of the tasks drifts); and once the fleet is idle again after the drain, every kind back to its
 *   level before the first task, give or take `idleHandles`;
 * - errors (pass, poll, callback), per worker: none new in the last third;
 * - the store's counts (`rows:`, `keys:`, `size:` figures): back to the first third's level, give
 *   or take `storeShare` and `storeCount`. Bytes (`bytes:` figures) are reported, not judged: disk
 *   and allocator sizes move with vacuum and fragmentation, not with what is kept.
 */
import type { EventOf, JournalEvent } from '../harness/events.js';

export interface SoakLimits {
  /** How far the heap after GC may rise between the first and last thirds, in bytes and as a share of the first. */
  heapBytes: number;
  heapShare: number;
  /** How much more heap each task under way may hold, beyond the first third's number of them. */
  heapPerTask: number;
  /** How many handles of one kind may be open beyond the first third's level, plus this share of it. */
  handles: number;
  handleShare: number;
  /** How many handles of one kind may be open once idle again beyond the level before the first task. */
  idleHandles: number;
  /** How far a store count may rise, as a share of the first third's level plus a number. */
  storeShare: number;
  storeCount: number;
}

/**
 * Calibrated on this suite's runs (test/faults/README.md, "The soak"): between the thirds of a
 * steady minute a worker's heap moves by up to about 250 KB (its share of the tasks under way
 * drifts), while one task record retained per task (an injected leak) adds 1.1 to 1.6 MB. A task
 * under way holds about 16 KB of a worker's heap (12.8 MB with 90 running against 11.35 MB idle,
 * soak of seed 7 on Redis): a minute's soak on a loaded machine still ramps up in its first third.
 */
export const defaultSoakLimits: SoakLimits = Object.freeze({
  heapBytes: 768 << 10,
  heapShare: 0.1,
  heapPerTask: 24 << 10,
  handles: 4,
  handleShare: 0.25,
  idleHandles: 4,
  storeShare: 0.25,
  storeCount: 20,
});

/** One figure judged: its medians in the first and last thirds, the most the last may be, and whether it is. */
export interface SoakCheck {
  what: string;
  first: number;
  last: number;
  limit: number;
  ok: boolean;
}

export interface SoakVerdict {
  /** The judged window, in ms from the first task fed. */
  window: { fromMs: number; toMs: number };
  checks: SoakCheck[];
  /** The checks that failed, as sentences. */
  failures: string[];
  /** Per worker, the first and last samples of the whole run (for the record). */
  workers: Array<{ pid: number; first: EventOf<'sample'>; last: EventOf<'sample'> }>;
  /** The store's first and last samples of the whole run. */
  store: { first: Record<string, number>; last: Record<string, number> } | null;
}

/** Handle kinds that scale with the tasks under way (one sleep or lease timer each): judged once idle only. */
const workScaled = new Set(['Timeout']);

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length === 0 ? NaN : sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** The samples of the first and last thirds of [from, to]. */
function thirds<T extends { t: number }>(samples: readonly T[], from: number, to: number): [T[], T[]] {
  const third = (to - from) / 3;
  return [samples.filter((s) => s.t >= from && s.t < from + third), samples.filter((s) => s.t > to - third && s.t <= to)];
}

/**
 * Judges the samples of a soak's journal.
 * @param options.warmupMs - left out from the first task fed
 * @throws Error when the journal holds no feed or too few samples to judge (a soak that did not run)
 */
export function judgeSoak(events: readonly JournalEvent[], options: { warmupMs: number; limits?: SoakLimits }): SoakVerdict {
  const limits = options.limits ?? defaultSoakLimits;
  const firstFeed = events.find((e) => e.ev === 'feed')?.t;
  const feedStop = events.find((e) => e.ev === 'feed-stop')?.t;
  if (firstFeed === undefined || feedStop === undefined) throw new Error('soak journal: no feed, or no feed-stop: the soak did not run');
  const idleAt = events.find((e) => e.ev === 'idle')?.t;
  const from = firstFeed + options.warmupMs * 1e6;
  const to = feedStop;
  if (to - from < 3e9) throw new Error(`soak journal: ${Math.round((to - from) / 1e6)} ms after the warm-up; at least 3 s needed to judge`);

  const checks: SoakCheck[] = [];
  const check = (what: string, series: ReadonlyArray<{ t: number; value: number }>, limitOf: (first: number) => number) => {
    const [early, late] = thirds(series, from, to);
    if (early.length === 0 || late.length === 0) {
      checks.push({ what: `${what} (no samples in a third)`, first: NaN, last: NaN, limit: NaN, ok: false });
      return;
    }
    const first = median(early.map((s) => s.value));
    const last = median(late.map((s) => s.value));
    const limit = limitOf(first);
    checks.push({ what, first, last, limit, ok: last <= limit });
  };

  const samples = events.filter((e): e is EventOf<'sample'> => e.ev === 'sample');
  const pids = [...new Set(samples.map((s) => s.pid))].sort((a, b) => a - b);
  const workers: SoakVerdict['workers'] = [];
  for (const pid of pids) {
    const own = samples.filter((s) => s.pid === pid);
    workers.push({ pid, first: own[0]!, last: own[own.length - 1]! });
    const [earlyRun, lateRun] = thirds(own, from, to);
    const moreTasks = Math.max(0, median(lateRun.map((s) => s.running)) - median(earlyRun.map((s) => s.running)));
    check(
      `worker ${pid} heap after GC (bytes)`,
      own.map((s) => ({ t: s.t, value: s.heapUsed })),
      (first) => first + Math.min(limits.heapBytes, limits.heapShare * first) + (moreTasks || 0) * limits.heapPerTask,
    );
    const before = own.filter((s) => s.t < firstFeed).at(-1);
    const idle = own.filter((s) => idleAt !== undefined && s.t > idleAt).at(-1);
    for (const kind of [...new Set(own.flatMap((s) => Object.keys(s.handles)))].sort()) {
      const series = own.map((s) => ({ t: s.t, value: s.handles[kind] ?? 0 }));
      if (!workScaled.has(kind)) check(`worker ${pid} open ${kind}`, series, (first) => first * (1 + limits.handleShare) + limits.handles);
      const level = before?.handles[kind] ?? 0;
      const last = idle === undefined ? NaN : (idle.handles[kind] ?? 0);
      checks.push({
        what: `worker ${pid} open ${kind} once idle, against before the first task`,
        first: level,
        last,
        limit: level + limits.idleHandles,
        ok: last <= level + limits.idleHandles,
      });
    }
    // Errors are running totals: none new in the last third means its last equals the level at its start.
    const errors = own.map((s) => ({ t: s.t, value: s.errors.pass + s.errors.poll + s.errors.callback }));
    const [, late] = thirds(errors, from, to);
    if (late.length > 0) {
      const before = errors.filter((s) => s.t <= to - (to - from) / 3).at(-1)?.value ?? 0;
      const last = late[late.length - 1]!.value;
      checks.push({
        what: `worker ${pid} errors (pass, poll, callback) in the last third`,
        first: before,
        last,
        limit: before,
        ok: last <= before,
      });
    }
  }

  const storeSamples = events.filter((e): e is EventOf<'store-sample'> => e.ev === 'store-sample');
  const names = [...new Set(storeSamples.flatMap((s) => Object.keys(s.figures)))].filter((name) => /^(rows|keys|size):/.test(name)).sort();
  for (const name of names) {
    const series = storeSamples.map((s) => ({ t: s.t, value: s.figures[name] ?? 0 }));
    check(`store ${name}`, series, (first) => first * (1 + limits.storeShare) + limits.storeCount);
  }

  const format = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));
  return {
    window: { fromMs: Math.round((from - firstFeed) / 1e6), toMs: Math.round((to - firstFeed) / 1e6) },
    checks,
    failures: checks
      .filter((c) => !c.ok)
      .map((c) => `${c.what}: ${format(c.first)} in the first third, ${format(c.last)} in the last (at most ${format(c.limit)})`),
    workers,
    store: storeSamples.length > 0 ? { first: storeSamples[0]!.figures, last: storeSamples[storeSamples.length - 1]!.figures } : null,
  };
}
