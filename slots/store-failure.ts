import { StoreError, StoreUnavailableError, isTaskSemaphoreError } from '../src/core/errors.js';

/** Node's socket error codes for a connection that could not be made or was lost. */
const socketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * What ioredis' Cluster client says when no master serves a key's hash slot for now (a master
 * killed and not yet replaced, a failover under way): its redirections spent, whatever the last
 * one met (a closed connection, MOVED to a dead node, CLUSTERDOWN), or those replies bare, or no
 * node reachable at all.
 */
const clusterUnavailable = /^(Too many Cluster redirections|CLUSTERDOWN|TRYAGAIN|None of startup nodes is available|Cluster isn't ready)/;

/**
 * True for an error that says the store could not be reached or the connection broke, rather
 * than an answer of the server: socket errors, ioredis' closed connection and spent retries, a
 * Redis Cluster with no master for the slot, replicas that did not confirm a write (`WAIT`, or
 * Redis' own `min-replicas-to-write`), and pg's connection errors (SQLSTATE class 08, an
 * administrator's shutdown 57P01-57P03, a connection terminated or a connect that timed out).
 */
export function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (socketCodes.has(code) || /^(08|57P0[123])/.test(code))) return true;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    clusterUnavailable.test(error.message) ||
    error.name === 'ReplicaWaitError' ||
    error.message.startsWith('NOREPLICAS') ||
    /^(Connection is closed|Stream isn't writeable|Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(
      error.message,
    )
  );
}

/**
 * What a store throws when a call fails after `init()`: the client's raw error, explained. A
 * failed connection becomes a StoreUnavailableError, any other failure a StoreError; this
 * package's own errors pass unchanged. The raw error stays the `cause`.
 * @param kind - the store, as users name it: `Redis`, `PostgreSQL`
 * @param target - where it is (a URL or a description); its password is hidden in the message
 * @param operation - the script or statement that failed
 */
export function storeFailure(kind: string, target: string, operation: string, error: unknown): Error {
  if (isTaskSemaphoreError(error)) return error;
  if (isConnectionFailure(error)) return new StoreUnavailableError(kind, target, error);
  return new StoreError(kind, target, operation, error);
}
