/**
 * PgListener, the LISTEN connection of the PostgreSQL slot store and of the Procrastinate backend,
 * against the real PostgreSQL behind a TCP proxy: the network drops, new connections fail for a
 * while, and the listener must come back by itself and say so, since what was sent meanwhile is
 * lost.
 */
import test, { type ExecutionContext } from 'ava';
import { PgListener } from '../../src/core/postgres/listener.js';
import { sleep, waitFor } from '../../src/testing/scheduler-kit.js';
import { connectPostgres, uniqueName } from '../helpers/services.js';
import { postgresProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

interface Listening {
  proxy: TcpProxy;
  listener: PgListener;
  received: string[];
  reconnects: () => number;
  notify(payload: string): Promise<void>;
}

/** A listener on a fresh channel, connected through a proxy, retrying every 50 ms. */
async function listening(t: ExecutionContext): Promise<Listening> {
  const { proxy, connection } = await postgresProxy(t);
  const pool = await connectPostgres();
  t.teardown(() => pool.end());
  const channel = uniqueName('chan');
  const received: string[] = [];
  let reconnects = 0;
  const listener = new PgListener({
    connection,
    channels: [channel],
    onNotification: (got, payload) => {
      if (got === channel) received.push(payload);
    },
    onReconnect: () => reconnects++,
    retryMs: 50,
  });
  await listener.start();
  t.teardown(() => listener.stop());
  return {
    proxy,
    listener,
    received,
    reconnects: () => reconnects,
    notify: async (payload) => {
      await pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
  };
}

test('a LISTEN connection that drops comes back by itself after failed attempts, and reports it once listening', async (t) => {
  const { proxy, received, reconnects, notify } = await listening(t);
  await notify('before');
  await waitFor(() => received.includes('before'), 'the first notification', 3000);

  proxy.refuse(true);
  proxy.cut();
  await sleep(100);
  await notify('while down');
  await sleep(200);
  t.true(proxy.refused >= 2, `tried again while the server was unreachable (${proxy.refused} attempts)`);
  t.is(reconnects(), 0, 'not reported before it listens again');

  proxy.refuse(false);
  await waitFor(() => reconnects() === 1, 'the reconnection to be reported', 3000);
  await notify('after');
  await waitFor(() => received.includes('after'), 'a notification after the reconnection', 3000);
  // Why onReconnect exists: what was sent while the connection was down is gone.
  t.deepEqual(received, ['before', 'after']);
  t.is(reconnects(), 1);
});

test('stop() during the retries ends them: no connection is tried afterwards', async (t) => {
  const { proxy, listener, reconnects } = await listening(t);
  proxy.refuse(true);
  proxy.cut();
  await waitFor(() => proxy.refused >= 1, 'a retry', 3000);
  await listener.stop();
  const attempts = proxy.refused + proxy.connections;
  proxy.refuse(false);
  await sleep(300);
  t.is(proxy.refused + proxy.connections, attempts, 'no attempt after stop()');
  t.is(reconnects(), 0);
});
