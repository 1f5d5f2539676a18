/**
 * When a claimed job that a slot could not take may be claimed again. Handing it back at once
 * while the cause lasts (its id still held by a dead process's occupancy, say) would have it
 * claimed, refused and handed back in a tight loop: thousands of times a second, each time an
 * event in Procrastinate's history.
 */
import type { RejectInfo, RejectReason } from '../../src/contracts/backend.js';

/** Causes that outlast the moment: asked again at once, the slot would refuse the job again. */
const lastingCauses: ReadonlySet<RejectReason> = new Set(['duplicate', 'store_error']);

/** First wait of the backoff, doubled at each hand-back of the same job in a row, up to the cap. */
const backoffStartMs = 1000;
const backoffCapMs = 60_000;
/** A job not handed back for this long is forgotten (it ran, or went elsewhere). */
const forgetAfterMs = 10 * 60_000;
/** Above this many remembered jobs, the old ones are dropped on the next hand-back. */
const pruneAbove = 1000;

/**
 * Counts the hand-backs of each job since it last started, and says how long to keep it out of
 * reach: the scheduler's `retryAfterMs` when it gives one; else at once for a passing cause and
 * 1 s doubling to 60 s for a lasting one (`duplicate`, `store_error`). A job handed back again
 * without starting in between waits at least that backoff whatever the reason, so no cause, known
 * or not, can make it loop.
 */
export class HandBackDelays {
  private readonly jobs = new Map<string, { count: number; at: number }>();

  /** Records a hand-back of the job and returns how many ms it must wait before it is due again. */
  next(jobId: string, info: RejectInfo): number {
    const now = Date.now();
    if (this.jobs.size > pruneAbove) this.forgetOlderThan(now - forgetAfterMs);
    const count = (this.jobs.get(jobId)?.count ?? 0) + 1;
    this.jobs.set(jobId, { count, at: now });
    const given = typeof info.retryAfterMs === 'number' && info.retryAfterMs >= 0 ? info.retryAfterMs : undefined;
    const asked = given ?? (lastingCauses.has(info.reason) ? backoff(count) : 0);
    return Math.max(asked, count >= 2 ? backoff(count - 1) : 0);
  }

  /** The job started: its next hand-back, if any, counts from one again. */
  started(jobId: string): void {
    this.jobs.delete(jobId);
  }

  private forgetOlderThan(cutoff: number): void {
    for (const [jobId, entry] of this.jobs) if (entry.at < cutoff) this.jobs.delete(jobId);
  }
}

/** The n-th wait (n ≥ 1): 1 s, 2 s, 4 s, … capped at 60 s. */
function backoff(n: number): number {
  return Math.min(backoffStartMs * 2 ** Math.min(n - 1, 16), backoffCapMs);
}
