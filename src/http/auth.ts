/**
 * The bearer token of the control routes: compared in constant time (digests of equal length, so
 * neither the token's length nor its first wrong byte shows in the timing), and never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendError } from './errors.js';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * A preHandler that lets a request through only with `Authorization: Bearer <token>`, or, with
 * `inQuery`, the URL parameter `token` (for a browser, whose EventSource cannot send a header).
 * Without a token configured, every request is refused: the route is off.
 */
export function requireToken(token: string | undefined, { inQuery = false }: { inQuery?: boolean } = {}) {
  const expected = token === undefined ? undefined : digest(token);
  const howTo = `send the header Authorization: Bearer <token>${inQuery ? ' or add ?token=<token> to the URL' : ''}`;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (expected === undefined) {
      return sendError(reply, 403, 'ERR_HTTP_NO_TOKEN', 'this route needs the bearer token of http.token, and none is configured');
    }
    const header = request.headers.authorization;
    const given =
      typeof header === 'string' && /^Bearer /i.test(header) ? header.slice(7).trim() : inQuery ? queryToken(request) : undefined;
    if (given === undefined) {
      void reply.header('WWW-Authenticate', 'Bearer');
      return sendError(reply, 401, 'ERR_HTTP_UNAUTHORIZED', `missing bearer token: ${howTo}`);
    }
    if (!timingSafeEqual(digest(given), expected)) {
      void reply.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      return sendError(reply, 401, 'ERR_HTTP_UNAUTHORIZED', 'wrong bearer token');
    }
  };
}

/** The URL parameter `token`, when given once. */
function queryToken(request: FastifyRequest): string | undefined {
  const value = (request.query as Record<string, unknown> | undefined)?.token;
  return typeof value === 'string' ? value : undefined;
}
