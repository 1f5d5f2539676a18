import type pg from 'pg';

/** Read by shape, not `instanceof`: a pool passed in may come from another copy of `pg`. */
export function isPool(value: unknown): value is pg.Pool {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as pg.Pool).connect === 'function' &&
    typeof (value as pg.Pool).query === 'function'
  );
}
