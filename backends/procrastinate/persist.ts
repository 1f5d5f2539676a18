/**
 * Job writes that outlast a database away: a write that failed for want of a connection is sent
 * again until it lands. Given up, it would leave the job `doing` under a live worker, with no slot
 * bounding it and no sweep to take it (the worker's heartbeat says it is alive), until the worker
 * closes. Every job write goes through the ownership guard, so sending one again is harmless: a
 * write that had landed before its connection dropped finds the job no longer ours.
 */

/** Waits before the first tries again; then `steadyDelayMs` between tries while `keepTrying()`. */
const firstDelaysMs = [500, 1000, 2000];
const steadyDelayMs = 2000;

/**
 * Whether an error says the statement never reached the database, or its connection died: no
 * SQLSTATE (pg's "Connection terminated"), a Node socket error (ECONNREFUSED, ECONNRESET, EPIPE,
 * ETIMEDOUT...), or SQLSTATE class 08 (connection), 57P (shutdown) or 40 (rolled back).
 */
export function isConnectionFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code !== 'string' || /^(08|57P|40)/.test(code) || /^E[A-Z]+$/.test(code);
}

/**
 * Runs `write`, and again after a connection failure: after 0.5 s, 1 s and 2 s, then every 2 s
 * while `keepTrying()` (the backend is open). Any other error, or a failure once `keepTrying()`
 * says no, is thrown.
 */
export async function persist<T>(write: () => Promise<T>, keepTrying: () => boolean): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      const waitMs = firstDelaysMs[attempt] ?? (keepTrying() ? steadyDelayMs : undefined);
      if (!isConnectionFailure(error) || waitMs === undefined) throw error;
      await new Promise((resolve) => setTimeout(resolve, waitMs).unref());
    }
  }
}
