/**
 * The checker's rules for misbehaving backend code and remote callers (test/faults/README.md, "The
 * checker"): polls and callbacks that were slow, hung or threw, polls that returned the id of a
 * task holding a slot, and cancels. Each rule asserts what README.md documents for the case.
 */
import { deathOf, releasedAt, stateLossBetween, type CheckConfig, type CheckReport, type Violate } from './checker.js';
import type { MisbehaviourInfo, RunModel } from './checker-model.js';

/** Misbehaviours that settle past the time limit (or never): reported as a `CallTimeoutError`. */
const timesOut = (how: string) => how === 'slow' || how === 'hang' || how === 'hang-signal';

/** Whether `pid` died, stalled, or the store failed, between `from` and `to`: news could not get through. */
function disturbed(model: RunModel, pid: number | null, from: number, to: number): boolean {
  if (pid !== null && (deathOf(model, pid) ?? Infinity) <= to) return true;
  if (model.stalls.some((s) => s.pid === pid && s.from <= to && s.to >= from)) return true;
  return model.storeFaults.some((f) => f.from <= to && f.to >= from);
}

/**
 * README (`pollTimeout`, `callbackTimeout`, Events): a poll or callback that throws, rejects or
 * hangs is abandoned at its time limit and reported (`poll:error`, `callback:error`); a
 * `startCallback` that fails so ends its occupancy `start_failed`, telling the task's signal.
 */
export function checkMisbehaviours(model: RunModel, violate: Violate): void {
  for (const m of model.misbehaviours) {
    const report =
      m.call === 'poll'
        ? model.pollErrors.find((e) => e.pid === m.pid && e.slotId === m.slotId && e.at >= m.at)
        : model.callbackErrors.find((e) => e.pid === m.pid && e.callback === m.call && e.taskId === m.taskId && e.at >= m.at);
    const what = describeCall(m);
    if (!report) {
      if ((deathOf(model, m.pid) ?? Infinity) < Infinity) continue; // killed before it could say
      violate('misbehaviour-unreported', m.at, `${what} was never reported as ${m.call === 'poll' ? 'poll:error' : 'callback:error'}`);
      continue;
    }
    if (report.timeout !== timesOut(m.how))
      violate('misbehaviour-unreported', report.at, `${what} was reported ${report.timeout ? 'as a timeout' : `as ${report.error}`}`);
    if (m.call === 'startCallback') checkFailedStart(model, violate, m, what);
  }
}

/** The occupancy of a failed start ends `start_failed`, and its task's signal says so. */
function checkFailedStart(model: RunModel, violate: Violate, m: MisbehaviourInfo, what: string): void {
  const o = [...model.occupancies.values()].find((x) => x.taskId === m.taskId && x.token === m.token);
  const end = o?.stopCallbacks[0];
  if (!o || !end) return; // no end at all: the end rules judge it
  if (end.reason === 'start_failed') {
    if (o.abort?.cause !== 'start_failed' && !disturbed(model, o.pid, m.at, end.at)) {
      violate('wrong-end-reason', end.at, `${what}: ended start_failed, but its signal said ${o.abort?.cause ?? 'nothing'}`);
    }
  } else if (!disturbed(model, o.pid, m.at, end.at)) {
    violate('wrong-end-reason', end.at, `${what}: its occupancy ended ${end.reason}, not start_failed`);
  }
}

/**
 * README (`rejectCallback`, `duplicate`): an id that holds another slot is refused, and its backend
 * hears `duplicate` with how long to wait (`retryAfterMs`). A start is possible only once the
 * holder has let go (counted apart); the poller never gives back a claim it does not hold.
 */
export function checkDuplicates(model: RunModel, report: CheckReport, violate: Violate): void {
  for (const d of model.dupPolls) {
    const name = `${d.taskId}, returned by a poll of pid ${d.pid} for slot ${d.slotId} while pid ${d.holder} ran it,`;
    const reject = model.rejects.find(
      (r) =>
        r.ev === 'reject' && r.injected === true && r.pid === d.pid && r.taskId === d.taskId && r.slotId === d.slotId && r.t / 1e6 >= d.at,
    );
    if (reject?.ev === 'reject') {
      const wait = reject.retryAfterMs;
      if (reject.reason === 'duplicate' && (wait === null || !(wait >= 0)))
        violate('duplicate-not-refused', d.at, `${name} was refused as a duplicate without a retryAfterMs (${String(wait)})`);
      continue;
    }
    const started = [...model.occupancies.values()].find(
      (o) => o.pid === d.pid && o.taskId === d.taskId && o.slotId === d.slotId && (o.since ?? -Infinity) >= d.at,
    );
    if (started) {
      // The holder it named: the task's occupancy under way when the poll returned.
      const holders = [...model.occupancies.values()].filter(
        (o) => o.taskId === d.taskId && o !== started && o.since !== null && o.since <= d.at,
      );
      if (holders.every((h) => releasedAt(model, h, Infinity) <= started.since!)) report.tolerated.duplicateAfterHolderEnded++;
      else violate('duplicate-not-refused', started.since!, `${name} started (token ${started.token}) while its holder still held it`);
      continue;
    }
    if ((deathOf(model, d.pid) ?? Infinity) === Infinity) violate('duplicate-not-refused', d.at, `${name} was neither refused nor started`);
  }
}

/**
 * README (`cancel`, Cancel in Concepts): a cancel of an id no slot holds answers `{ ok: false }`
 * (`unknown` for one never seen); an ok cancel flags the occupancy it names, the one asked for,
 * still running; its task's signal fires and it stops (then ends `cancelled`: the end rules).
 */
export function checkCancels(model: RunModel, config: CheckConfig, violate: Violate): void {
  for (const c of model.cancels) {
    const r = c.result;
    if (!r || r.error !== undefined) continue;
    const name = `cancel(${c.taskId}${c.asked === null ? '' : `, token ${c.asked}`}) at ${Math.round(c.at - model.origin)} ms`;
    if (!c.fed) {
      if (r.ok || r.reason !== 'unknown')
        violate('wrong-cancel-answer', r.at, `${name}, an id never fed, answered ${r.ok ? 'ok' : r.reason}, not unknown`);
      continue;
    }
    if (!r.ok) continue;
    if (c.asked !== null && r.token !== c.asked) violate('wrong-cancel-answer', r.at, `${name} flagged token ${String(r.token)}`);
    const o = model.occupancies.get(`${c.taskId}#${String(r.token)}`);
    if (!o) continue; // started in the store by a process killed before it said so
    const end = o.stopCallbacks[0];
    if (end && end.at < c.at && !stateLossBetween(model, end.at, r.at))
      violate('wrong-cancel-answer', r.at, `${name} answered ok, but the occupancy had ended ${end.reason} before`);
    for (const e of model.executions.filter((x) => x.key === o.key && x.start < r.at && (x.end ?? Infinity) > r.at)) {
      const lastWork = e.outcome === 'aborted' || e.outcome === 'cancelled' ? (e.lastGo ?? e.start) : (e.end ?? Infinity);
      if (lastWork <= r.at + config.recoveryBoundMs || disturbed(model, e.pid, r.at, lastWork)) continue;
      if (e.outcome === 'aborted' && o.abort !== null && o.abort.cause !== 'cancel_requested') continue; // told something else first
      violate(
        'cancel-ignored',
        r.at,
        `${name} answered ok, but ${e.taskId} (token ${e.token}, pid ${e.pid}) worked on until ${Math.round(lastWork - model.origin)} ms (${String(e.outcome)})`,
      );
    }
  }
}

const describeCall = (m: MisbehaviourInfo) =>
  `a ${m.how} ${m.call} in pid ${m.pid} (slot ${m.slotId}${m.taskId === null ? '' : `, ${m.taskId}`}${m.token === null ? '' : ` token ${m.token}`})`;
