/**
 * Scheduler store options whose connections go through a TCP proxy in front of the tests' Redis or
 * PostgreSQL (see tcp-proxy.ts), for tests of what happens when the store becomes unreachable:
 * `proxy.refuse(true)` then `proxy.cut()` takes it away, `proxy.refuse(false)` brings it back.
 * Keys and schema are the test's own, removed at teardown.
 */
import type { ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { SchedulerOptions } from '../../src/scheduler/options.js';
import { connectPostgres, connectRedis, freshSchema, uniqueName } from './services.js';
import { postgresProxy, redisProxy, type TcpProxy } from './tcp-proxy.js';

export interface StoreBehindProxy {
  proxy: TcpProxy;
  /** The scheduler options of the store: a client or pool the test owns, through the proxy. */
  options: Partial<SchedulerOptions>;
}

export async function redisBehindProxy(t: ExecutionContext): Promise<StoreBehindProxy> {
  const { proxy, url } = await redisProxy(t);
  const keyPrefix = uniqueName('behind_proxy');
  // No retries per request: a command sent while the proxy refuses fails at once.
  const client = new Redis(url, { maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  t.teardown(async () => {
    client.disconnect();
    const direct = await connectRedis();
    const keys = await direct.keys(`{${keyPrefix}:*`);
    if (keys.length) await direct.del(...keys);
    direct.disconnect();
  });
  return { proxy, options: { redis: client, keyPrefix } };
}

export async function postgresBehindProxy(t: ExecutionContext): Promise<StoreBehindProxy> {
  const { proxy, connection } = await postgresProxy(t);
  const direct = await connectPostgres({ max: 1 });
  const schema = await freshSchema(direct);
  const pool = new pg.Pool({ ...connection, max: 4 });
  pool.on('error', () => {}); // idle clients cut by the proxy; queries report their own errors
  t.teardown(async () => {
    await pool.end();
    await direct.query(`DROP SCHEMA ${schema} CASCADE`);
    await direct.end();
  });
  return { proxy, options: { postgres: pool, postgresSchema: schema } };
}
