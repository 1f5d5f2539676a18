/**
 * The Redis store's events subscription when its connection is lost, on a real Redis behind a TCP
 * proxy: it listens again once Redis is back, and says it listens only once it does; and a store
 * or scheduler closed meanwhile, or while Redis is away, closes cleanly: no rejection left
 * unhandled (which ends a Node process) and no connection left reconnecting (which keeps one
 * alive: test/fixtures/subscribe-while-away).
 */
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { RedisSlotStore } from '../../slots/redis/index.js';
import type { StoreEvent } from '../../src/contracts/store.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import type { SchedulerOptions } from '../../src/scheduler/options.js';
import {
  ScriptedBackend,
  makeScheduler,
  sleep,
  slots,
  uniqueSchedulerName,
  waitFor,
  type SlotKindSetup,
} from '../../src/testing/scheduler-kit.js';
import { startRequest } from '../../src/testing/store-suite-kit.js';
import { freePort } from '../helpers/own-servers.js';
import { redisBehindProxy } from '../helpers/stores-behind-proxy.js';
import type { TcpProxy } from '../helpers/tcp-proxy.js';

const awayScript = fileURLToPath(new URL('../fixtures/subscribe-while-away.js', import.meta.url));

/** A SUBSCRIBE command as ioredis writes it (RESP), whatever the channel. */
const subscribeCommand = /\r\nsubscribe\r\n/i;

/** The rejections nothing handles from now on, in this test's process. */
function unhandledRejections(t: ExecutionContext): unknown[] {
  const seen: unknown[] = [];
  const record = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', record);
  t.teardown(() => process.off('unhandledRejection', record));
  return seen;
}

/** The connections made from `client` by `duplicate()` from now on: the store's subscribers. */
function duplicatesOf(client: Redis): Redis[] {
  const made: Redis[] = [];
  const duplicate = client.duplicate.bind(client);
  client.duplicate = (...args) => {
    const connection = duplicate(...args);
    made.push(connection);
    return connection;
  };
  return made;
}

/** Closes `connection` from the far side, and waits until it tries to reconnect. */
async function cutOff(proxy: TcpProxy, connection: Redis): Promise<void> {
  proxy.refuse(true);
  proxy.cut();
  await waitFor(() => connection.status === 'reconnecting', 'the subscriber to try to reconnect');
}

/** Waits until `connection` has closed for good, then for the rejections its closing left. */
async function ended(connection: Redis): Promise<void> {
  await waitFor(() => connection.status === 'end', 'the subscriber connection to close');
  await new Promise((resolve) => setImmediate(resolve));
}

/** A scheduler of one slot on `options`' store, loaded (so subscribed), closed at teardown. */
async function loadedScheduler(t: ExecutionContext, options: Partial<SchedulerOptions>): Promise<Scheduler> {
  const setup = { options, slotCls: 'RedisSlot' } as SlotKindSetup;
  const scheduler = makeScheduler(setup, uniqueSchedulerName(), { work: new ScriptedBackend() }, { logger: false });
  t.teardown(() => scheduler.close());
  await scheduler.load(slots(1, ['work']));
  return scheduler;
}

test('a scheduler closed while its subscriber subscribes again after a reconnect leaves no rejection unhandled', async (t) => {
  const rejections = unhandledRejections(t);
  const { proxy, options } = await redisBehindProxy(t);
  const subscribers = duplicatesOf(options.redis as Redis);
  const scheduler = await loadedScheduler(t, options);
  t.is(subscribers.length, 1, 'one subscriber connection');
  const subscriber = subscribers[0]!;

  // Redis comes back, and stalls just as the subscriber has sent its SUBSCRIBE again: it is
  // connected, and the scheduler closes before the answer.
  await cutOff(proxy, subscriber);
  const resubscribing = proxy.stallAfter(subscribeCommand);
  proxy.refuse(false);
  await resubscribing;
  await scheduler.close();
  await ended(subscriber);
  t.deepEqual(rejections, [], 'the SUBSCRIBE cut short was handled');
});

test('after a reconnect the store listens once Redis has answered its SUBSCRIBE, and gets events again', async (t) => {
  const { proxy, options } = await redisBehindProxy(t);
  const subscribers = duplicatesOf(options.redis as Redis);
  const store = new RedisSlotStore({ name: uniqueSchedulerName(), redis: options.redis as Redis, keyPrefix: options.keyPrefix! });
  t.teardown(() => store.close());
  await store.init(['1']);
  const events: StoreEvent[] = [];
  await store.subscribe((event) => events.push(event));
  t.true(store.listening());

  await cutOff(proxy, subscribers[0]!);
  t.false(store.listening(), 'not while it reconnects');
  const resubscribing = proxy.stallAfter(subscribeCommand);
  proxy.refuse(false);
  await resubscribing;
  t.is(subscribers[0]!.status, 'ready');
  t.false(store.listening(), 'connected, but its SUBSCRIBE is not answered');

  // The stalled connection dies too; the next one is answered.
  proxy.cut();
  await waitFor(() => store.listening(), 'the store to listen again');
  const pass = { slotIds: ['1'], owner: 'me', leaseMs: 10_000, deliverable: ['b'], retentionMs: 60_000, limit: 1 };
  const { reserved } = await store.beginPass(pass);
  t.true((await store.start(startRequest(reserved[0]!, 'task-1'))).ok);
  t.true((await store.requestCancel({ taskId: 'task-1' })).ok);
  await waitFor(() => events.length > 0, 'the cancel event');
  t.deepEqual(events, [{ type: 'cancel', taskId: 'task-1', token: reserved[0]!.token }]);
});

test('a scheduler shut down while Redis is away finishes, and leaves no rejection unhandled', async (t) => {
  const rejections = unhandledRejections(t);
  const { proxy, options } = await redisBehindProxy(t);
  const subscribers = duplicatesOf(options.redis as Redis);
  const scheduler = await loadedScheduler(t, options);
  await cutOff(proxy, subscribers[0]!);

  const report = await scheduler.shutdown({ graceful: '1s', final: '1s' });
  t.deepEqual(report.errors, []);
  t.deepEqual(rejections, []);
});

/** Runs test/fixtures/subscribe-while-away against a port where nothing listens; its exit code and output. */
async function subscribeWhileAway(t: ExecutionContext, env: Record<string, string> = {}): Promise<{ code: unknown; out: string }> {
  const child = spawn(process.execPath, [awayScript], {
    env: { ...process.env, ...env, STORE_URL: `redis://127.0.0.1:${await freePort()}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  // A bound for a hang, not a speed: the process has nothing left to do within a few seconds.
  const code = await Promise.race([exit, sleep(20_000).then(() => 'still running 20 s later')]);
  return { code, out };
}

test('a process whose store fails to subscribe while Redis is away exits once it has closed the store', async (t) => {
  const { code, out } = await subscribeWhileAway(t);
  t.regex(out, /^subscribe failed: MaxRetriesPerRequestError/);
  t.is(code, 0, 'no connection left trying to reconnect');
});

test('a store closed while its subscribe waits for Redis ends that subscribe, and the process exits', async (t) => {
  const { code, out } = await subscribeWhileAway(t, { WAIT: 'forever' });
  t.regex(out, /^subscribe failed: /);
  t.is(code, 0, 'no connection left trying to reconnect');
});
