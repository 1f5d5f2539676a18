/**
 * Exact counts of store round trips: wrappers around a Redis client's `sendCommand` and a pool's
 * `query` that count every request by name and add up the time each took.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import * as lua from '../../slots/redis/lua.generated.js';
import { fmt } from './format.js';

/** The store's Lua scripts by SHA1, so that EVALSHA calls are counted under the script's name. */
const scriptNames = new Map<string, string>(
  Object.entries(lua as Record<string, string>)
    // beginPass13 -> begin-pass-13, the script's file name.
    .map(([name, source]) => [
      createHash('sha1').update(source, 'utf8').digest('hex'),
      name.replace(/([A-Z]|\d+)/g, (m) => `-${m.toLowerCase()}`),
    ]),
);

/** Counts requests sent to a store: every command, by name (EVALSHA/EVAL by script name). */
export class RoundTrips {
  total = 0;
  readonly byName = new Map<string, number>();
  /** Sum of the time from sending each request to its reply (overlapping requests add up). */
  busyMs = 0;
  /** The same by request name. */
  readonly busyByName = new Map<string, number>();

  add(name: string): void {
    this.total++;
    this.byName.set(name, (this.byName.get(name) ?? 0) + 1);
  }

  /** Adds the time a request of `name` took, from sending it to its reply. */
  took(name: string, ms: number): void {
    this.busyMs += ms;
    this.busyByName.set(name, (this.busyByName.get(name) ?? 0) + ms);
  }

  reset(): void {
    this.total = 0;
    this.byName.clear();
    this.busyMs = 0;
    this.busyByName.clear();
  }

  /** Mean ms from request to reply, by name: e.g. `start-5 0.31 ms`. */
  describeLatency(): string {
    return [...this.byName].map(([name, n]) => `${name} ${fmt((this.busyByName.get(name) ?? 0) / n, 2)} ms`).join(', ') || '-';
  }

  /** e.g. `begin-pass-9×1 release-2×1`. */
  describe(): string {
    return [...this.byName].map(([name, n]) => `${name}×${n}`).join(' ') || '-';
  }
}

interface SentCommand {
  name: string;
  args: unknown[];
  promise: Promise<unknown>;
}

/**
 * Wraps `client.sendCommand`, the one method every ioredis command (auto-pipelined or not) goes
 * through once per request. The count is of requests: each gets its own reply. With
 * auto-pipelining several requests may share one network write, so the number of network round
 * trips can only be lower.
 */
export function countRedis(client: Redis): RoundTrips {
  const counter = new RoundTrips();
  const original = client.sendCommand.bind(client) as (command: SentCommand, ...rest: unknown[]) => Promise<unknown>;
  (client as unknown as { sendCommand: typeof original }).sendCommand = (command, ...rest) => {
    let name = command.name.toLowerCase();
    if (name === 'evalsha') name = scriptNames.get(String(command.args[0])) ?? `evalsha:${String(command.args[0]).slice(0, 8)}`;
    else if (name === 'eval') name = `eval:${scriptNames.get(sha1(String(command.args[0]))) ?? 'other'}`;
    counter.add(name);
    const began = performance.now();
    const result = original(command, ...rest);
    const done = () => counter.took(name, performance.now() - began);
    command.promise.then(done, done);
    return result;
  };
  return counter;
}

/** Wraps `pool.query`: every statement the PostgreSQL store runs is one `pool.query` call. */
export function countPostgres(pool: pg.Pool): RoundTrips {
  const counter = new RoundTrips();
  const original = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: typeof original }).query = (...args: unknown[]) => {
    const text = typeof args[0] === 'string' ? args[0] : String((args[0] as { text?: string })?.text ?? '?');
    const name = statementName(text);
    counter.add(name);
    const began = performance.now();
    const result = original(...args);
    const done = () => counter.took(name, performance.now() - began);
    result.then(done, done);
    return result;
  };
  return counter;
}

/** The first line of the store's SQL files is `-- <name>: ...`. */
function statementName(text: string): string {
  const match = /^--\s*([\w-]+)/.exec(text);
  return match ? match[1]! : text.trim().split(/\s+/).slice(0, 2).join(' ').toLowerCase();
}

function sha1(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex');
}
