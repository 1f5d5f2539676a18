/**
 * Errors as HTTP answers: one JSON shape, `{ "error": { "code", "message", … } }`, a 4xx for what
 * the client sent (naming the field, the value and what is allowed, as the library does) and a 5xx
 * for what went wrong here, whose details go to the log, not to the client.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError, SchedulerStateError, StoreUnavailableError, TaskIdError, isTaskSemaphoreError } from '../core/errors.js';
import { errorFields, type Logger } from '../core/logger.js';

export interface ErrorBody {
  error: { code: string; message: string; field?: string; allowed?: string };
}

export function sendError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  more: Partial<ErrorBody['error']> = {},
): FastifyReply {
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send({ error: { code, message, ...more } } satisfies ErrorBody);
}

/** Fastify's own errors of a bad request, by code: what the client is told. */
const requestErrors: Record<string, [number, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'the body is not valid JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'the body is empty: send {} or no Content-Type'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'the body is too large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'the body must be JSON (Content-Type: application/json)'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'Content-Length does not match the body'],
};

/** The error handler of the server: every thrown error becomes one answer, and the process goes on. */
export function errorHandler(logger: Logger) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (error instanceof ConfigError) {
      const code = error instanceof TaskIdError ? 'ERR_TASK_ID' : error.code;
      return sendError(reply, 400, code, error.message, { field: error.field, allowed: error.allowed });
    }
    if (error instanceof StoreUnavailableError || error instanceof SchedulerStateError) {
      return sendError(reply, 503, error.code, error.message);
    }
    const known = error.code === undefined ? undefined : requestErrors[error.code];
    if (known) return sendError(reply, known[0], error.code, known[1]);
    if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
      return sendError(reply, error.statusCode, error.code ?? 'ERR_HTTP_BAD_REQUEST', error.message);
    }
    // A store error (a broken script, a dropped table) or a bug: the log has it, the client a code.
    logger.error('HTTP request failed', { method: request.method, url: request.routeOptions.url, ...errorFields(error) });
    const code = isTaskSemaphoreError(error) ? error.code : 'ERR_INTERNAL';
    return sendError(reply, 500, code, 'the request failed on the server; its log says why');
  };
}
