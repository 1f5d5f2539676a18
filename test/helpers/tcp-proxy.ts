/**
 * A TCP proxy in front of a real service, for tests of what a client does when the network drops:
 * `cut()` severs every connection through it, and while `refuse(true)` holds, new connections are
 * accepted and closed at once, as a host behind a partition or a restarting server would.
 */
import net from 'node:net';
import type { ExecutionContext } from 'ava';
import type pg from 'pg';
import { databaseUrl, redisUrl } from './services.js';

export interface TcpProxy {
  /** The proxy's local port: connect here instead of the service's. */
  port: number;
  /** How many connections reached the service through the proxy so far. */
  readonly connections: number;
  /** How many connections were closed at once while refusing. */
  readonly refused: number;
  /** Severs every open connection through the proxy. */
  cut(): void;
  /** While true, new connections are closed as soon as they are accepted. */
  refuse(on: boolean): void;
  /**
   * Stops forwarding on every open connection and leaves it open, as a half-open TCP connection
   * after a network fault: what is sent is never answered, and nothing says so. New connections
   * work.
   */
  freeze(): void;
  /**
   * Holds back the service's answers on the next connection on which the client sends data that
   * matches `sent` (that data still reaches the service), as a service that stalls right then;
   * resolves at that moment. The connection still closes when either end closes it.
   */
  stallAfter(sent: RegExp): Promise<void>;
}

/** Starts a proxy to `target` on a free local port; closed at teardown. */
export async function tcpProxy(t: ExecutionContext, target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  const pairs = new Set<readonly [net.Socket, net.Socket]>();
  let refusing = false;
  let connections = 0;
  let refused = 0;
  let stall: { sent: RegExp; stalled: () => void } | undefined;
  const server = net.createServer((inbound) => {
    if (refusing) {
      refused++;
      inbound.destroy();
      return;
    }
    connections++;
    const outbound = net.connect(target.port, target.host);
    const pair = [inbound, outbound] as const;
    pairs.add(pair);
    inbound.on('close', () => pairs.delete(pair));
    // The service answers this data later, by which time its answers are held back.
    inbound.on('data', (data: Buffer) => {
      if (!stall?.sent.test(data.toString('latin1'))) return;
      outbound.unpipe(inbound);
      outbound.pause();
      stall.stalled();
      stall = undefined;
    });
    for (const [socket, other] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      open.add(socket);
      socket.on('error', () => other.destroy());
      socket.on('close', () => {
        open.delete(socket);
        other.destroy();
      });
      socket.pipe(other);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    get refused() {
      return refused;
    },
    cut() {
      for (const socket of open) socket.destroy();
    },
    refuse(on) {
      refusing = on;
    },
    freeze() {
      for (const [inbound, outbound] of pairs) {
        inbound.unpipe(outbound);
        outbound.unpipe(inbound);
        inbound.pause();
        outbound.pause();
      }
    },
    stallAfter(sent) {
      return new Promise((resolve) => (stall = { sent, stalled: resolve }));
    },
  };
}

/** A proxy in front of the tests' Redis, and the URL that goes through it. */
export async function redisProxy(t: ExecutionContext): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(redisUrl);
  const proxy = await tcpProxy(t, { host: target.hostname, port: Number(target.port || 6379) });
  return { proxy, url: `redis://127.0.0.1:${proxy.port}` };
}

/** A proxy in front of the tests' PostgreSQL, and pg connection settings that go through it. */
export async function postgresProxy(t: ExecutionContext): Promise<{ proxy: TcpProxy; connection: pg.ClientConfig }> {
  const target = new URL(databaseUrl);
  const proxy = await tcpProxy(t, { host: target.hostname, port: Number(target.port || 5432) });
  // Parts, not a connectionString: pg would let the string's host and port win over these.
  const connection = { host: '127.0.0.1', port: proxy.port, user: decodeURIComponent(target.username), database: target.pathname.slice(1) };
  return { proxy, connection };
}
