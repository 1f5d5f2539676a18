/**
 * Node's `server.close()` closes idle keep-alive connections, but not one that never sent a
 * request: a spare connection a browser opens ahead of need, as Chromium does, or one a client
 * opened and left. Such a connection would hold the close until Node's `headersTimeout` (60 s).
 */
import type { FastifyInstance } from 'fastify';
import type { Socket } from 'node:net';

/** Destroys, when `app` closes, each connection that has not sent a request yet. */
export function closeUnusedConnections(app: FastifyInstance): void {
  const unused = new Set<Socket>();
  app.server.on('connection', (socket: Socket) => {
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  });
  app.server.on('request', (request: { socket: Socket }) => unused.delete(request.socket));
  app.addHook('preClose', async () => {
    for (const socket of unused) socket.destroy();
  });
}
