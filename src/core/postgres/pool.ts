import type pg from 'pg';
import { loadPeer } from '../peers.js';

/**
 * Opens a pg.Pool for a postgres:// URL, as every part of the package that owns its pool does
 * (the PostgreSQL store, the Procrastinate backend, the CLI). The pool ignores its own 'error'
 * events: an idle client that loses its connection emits one, which unheard would crash the
 * process; the next query reports the failure instead.
 * @param settings - pool settings beside the URL (size, timeouts, session options)
 * @param neededBy - what needs `pg`, for the error when it is not installed
 * @throws MissingPeerError when `pg` is not installed
 */
export function poolFromUrl(url: string, settings: pg.PoolConfig, neededBy: string): pg.Pool {
  const { Pool } = loadPeer('pg', neededBy);
  const pool = new Pool({ connectionString: url, ...settings });
  pool.on('error', () => {});
  return pool;
}
