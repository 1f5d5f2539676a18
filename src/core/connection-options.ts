/**
 * The `redis` and `postgres` options: a connection URL, or a client the caller owns. Clients are
 * checked by their shape, never with `instanceof`: the package may be absent, or another copy.
 */
import { isPool } from './postgres/is-pool.js';
import { checked } from './option-schema.js';

/**
 * An ioredis `Redis` or `Cluster` client, typed by shape so that these types need no ioredis
 * (the Redis store reads it as the ioredis client it is).
 */
export interface RedisClientLike {
  evalsha(...args: never[]): unknown;
  duplicate(...args: never[]): unknown;
}

/** A `pg.Pool`, typed by shape so that these types need no `pg` or `@types/pg`. */
export interface PgPoolLike {
  connect(...args: never[]): unknown;
  query(...args: never[]): unknown;
}

/** True for an object with the methods of an ioredis client the Redis store calls. */
export function isRedisClient(value: unknown): value is RedisClientLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RedisClientLike).evalsha === 'function' &&
    typeof (value as RedisClientLike).duplicate === 'function'
  );
}

const redisAllowed = 'allowed: a redis:// or rediss:// URL such as redis://localhost:6379/0, or an ioredis Redis or Cluster client';
const postgresAllowed = 'allowed: a postgres:// or postgresql:// URL such as postgres://user@localhost:5432/app, or a pg.Pool';

/**
 * What is wrong with a `redis` option, or nothing. A database index in the URL's path must be a
 * whole number: ioredis would read `/abc` as no index and write to database 0.
 */
export function redisProblem(value: unknown): string | undefined {
  if (isRedisClient(value)) return undefined;
  if (typeof value !== 'string') return redisAllowed;
  const url = parseUrl(value);
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) return redisAllowed;
  if (!/^\/?(\d+)?$/.test(url.pathname)) {
    return `allowed: a database index in the path that is a whole number (redis://host:6379/2), or no path for database 0; got path "${url.pathname}"`;
  }
  return undefined;
}

/** The database index a checked redis:// URL names; 0 when it names none. */
export function redisDatabase(url: string): number {
  return Number(new URL(url).pathname.slice(1) || 0);
}

/** What is wrong with a `postgres` option, or nothing. */
export function postgresProblem(value: unknown): string | undefined {
  if (isPool(value)) return undefined;
  if (typeof value !== 'string') return postgresAllowed;
  const url = parseUrl(value);
  if (url === undefined || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')) return postgresAllowed;
  return undefined;
}

/** The `redis` option's schema: a URL or an ioredis client. */
export const redisOption = () => checked<string | RedisClientLike>(redisProblem);

/** The `postgres` option's schema: a URL or a pg.Pool. */
export const postgresOption = () => checked<string | PgPoolLike>(postgresProblem);

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
