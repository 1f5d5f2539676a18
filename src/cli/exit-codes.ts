/**
 * The exit codes of `task-semaphore`, one meaning each across commands, so that a shell script
 * can branch on them (README "Exit codes" lists them).
 */
export const exitCodes = Object.freeze({
  /** Done; for keepalive, the task still holds its slot. */
  ok: 0,
  /** The command could not do its work: a store unreachable, a schema missing, a failed run. */
  failed: 1,
  /** Bad usage or bad input: an unknown option, a bad value, an invalid config file. */
  usage: 2,
  /** The task no longer holds its slot: it timed out or ended. It should stop working. */
  lost: 3,
  /** No slot holds the task and no end of it is kept (never started, long ended, or state lost). */
  unknown: 4,
  /** keepalive: the task holds its slot, renewed, but a cancel was requested; it should stop. */
  cancelRequested: 5,
  /** run: shut down, but in-process tasks ignored the abort and were dropped (ended `dropped`). */
  dropped: 6,
});

export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];
