/**
 * Why a task's signal fires, from what the store said of its occupancy: one mapping for the
 * scheduler, which fires the signal, and for backends, which read the same answers.
 */
import type { AbortCause } from '../core/errors.js';
import type { EndReason, Lost } from './store.js';

/** The cause for an answer that the task no longer holds its slot: timed out, or otherwise lost. */
export function abortCauseOfLost(lost: Pick<Lost, 'reason' | 'endReason'>): AbortCause {
  if (lost.reason !== 'timed_out') return 'lost';
  return lost.endReason === 'max_runtime' ? 'max_runtime' : 'timeout';
}

/** The cause for an occupancy that ended this way; none when the task stopped itself. */
export function abortCauseOfEnd(reason: EndReason): AbortCause | undefined {
  switch (reason) {
    case 'timeout':
    case 'max_runtime':
    case 'backend_removed':
    case 'start_failed':
    case 'lost':
      return reason;
    case 'dropped':
      return 'shutdown';
    default:
      return undefined; // the task itself stopped
  }
}
