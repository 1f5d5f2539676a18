/**
 * The `postgres` option of the Procrastinate client and periodic deferrer: a URL, from which
 * they open (and later end) a pool of their own, or a pool the caller owns and keeps open.
 */
import type pg from 'pg';
import { postgresProblem } from '../../src/core/connection-options.js';
import { checked } from '../../src/core/option-schema.js';
import { poolFromUrl } from '../../src/core/postgres/pool.js';

/** A postgres:// URL or a pg.Pool connected with the search_path of the Python side. */
export type PostgresOption = string | pg.Pool;

/** Settings of a pool opened from a URL: small, since each call holds a connection briefly. */
const ownPoolDefaults = Object.freeze({ max: 5, connectionTimeoutMillis: 5000 }) satisfies pg.PoolConfig;

/** The option's schema; it checks without connecting. */
export function postgresPoolOption() {
  return checked<PostgresOption>((value) => {
    const problem = postgresProblem(value);
    return problem && `${problem} connected with the Python side's search_path (options: '-c search_path=<schema>')`;
  });
}

/** A pool to query and whether we must end it. */
export interface PoolHandle {
  pool: pg.Pool;
  /** True for a pool opened from a URL: ours to end. A pool passed in is never ended. */
  owned: boolean;
}

/** Opens a pool for a URL, or wraps the caller's pool. */
export function openPool(postgres: PostgresOption): PoolHandle {
  if (typeof postgres !== 'string') return { pool: postgres, owned: false };
  return { pool: poolFromUrl(postgres, ownPoolDefaults, 'the Procrastinate backend'), owned: true };
}
