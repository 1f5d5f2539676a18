/**
 * The live slot board: `GET /` (the page), `/board/board.css` and `/board/board.js` (its style and
 * script, bundled into the code at build time) and `GET /events` (the snapshots it shows, as
 * server-sent events). The page is self-contained: no framework, no asset from elsewhere, no
 * inline script, which its Content-Security-Policy holds it to.
 *
 * With `guardReads`, the page and its events take the token in the header or, since a browser's
 * EventSource cannot send a header, as the URL parameter `token`, compared by the same guard.
 * The server logs route patterns, never URLs, so the parameter stays out of its logs; the page
 * asks browsers not to send its URL on (Referrer-Policy).
 */
import type { FastifyInstance } from 'fastify';
import { requireToken } from '../auth.js';
import { boardCss, boardJs, indexHtml } from '../board/assets.generated.js';
import { BoardFeed } from '../board/board-feed.js';
import { streamBoard } from '../board/event-stream.js';
import type { HttpContext } from '../context.js';

/** The page runs its own script and style and nothing else, and no other site may frame it. */
const pageHeaders = {
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
};

/** Style and script carry no data: open to all, revalidated so an upgrade shows at once. */
const assetHeaders = { 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' };

export function boardRoutes(app: FastifyInstance, { scheduler, health, options }: HttpContext): void {
  const guarded = options.guardReads ? { preHandler: requireToken(options.token, { inQuery: true }) } : {};
  const feed = new BoardFeed(scheduler, health);
  const streams = new Set<() => void>();
  // An open stream would hold the server's close until the page went away: end them first.
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });
  app.addHook('onClose', async () => feed.close());

  app.get('/', guarded, async (_request, reply) => reply.headers(pageHeaders).type('text/html; charset=utf-8').send(indexHtml));
  app.get('/board/board.css', async (_request, reply) => reply.headers(assetHeaders).type('text/css; charset=utf-8').send(boardCss));
  app.get('/board/board.js', async (_request, reply) => reply.headers(assetHeaders).type('text/javascript; charset=utf-8').send(boardJs));

  // No HEAD twin: a HEAD request would open a stream with no body to carry it.
  app.get('/events', { ...guarded, exposeHeadRoute: false }, (_request, reply) => {
    reply.hijack();
    const end = streamBoard(reply.raw, scheduler, feed);
    streams.add(end);
    reply.raw.once('close', () => streams.delete(end));
  });
}
