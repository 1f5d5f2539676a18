/**
 * The control API for tasks in any language: `POST /tasks/:taskId/keepalive`, `/stop`, `/cancel`,
 * each with an optional JSON body (`token`, and for stop `status` and `error`). The answers are
 * the library's typed results: 200 while the task holds its slot (a keepalive's
 * `cancelRequested` asks it to stop), 410 once it ended or timed out, 404 for a task the store
 * does not know.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import * as z from 'zod/mini';
import type { LostOutcome } from '../../contracts/results.js';
import { checked, parseOptions, strictObject, text } from '../../core/option-schema.js';
import type { HttpContext } from '../context.js';

const tokenField = z.optional(
  checked<number>(
    (value) => (Number.isSafeInteger(value) ? undefined : 'allowed: the integer fencing token the task was given at its start'),
    {
      type: 'integer',
    },
  ),
);
const anyText = (allowed: string) => z.optional(text(/^[\s\S]*$/, allowed));

const refBody = strictObject({ token: tokenField }, 'allowed: a JSON object, e.g. {"token": 12}', 'field');
const stopBody = strictObject(
  {
    token: tokenField,
    status: anyText('allowed: a string such as "succeeded" or "failed" ("cancelled" ends the task as cancelled)'),
    error: anyText('allowed: an error message'),
  },
  'allowed: a JSON object, e.g. {"token": 12, "status": "succeeded"}',
  'field',
);

interface TaskParams {
  taskId: string;
}

/** 410 for an occupancy that ended or timed out, 404 for one the store does not know. */
function lost(reply: FastifyReply, outcome: LostOutcome): FastifyReply {
  return reply.code(outcome.reason === 'unknown' ? 404 : 410).send(outcome);
}

export function taskRoutes(app: FastifyInstance, { scheduler, guard }: HttpContext): void {
  const options = { preHandler: guard };

  app.post<{ Params: TaskParams }>('/tasks/:taskId/keepalive', options, async (request, reply) => {
    const body = parseOptions(refBody, request.body ?? {}, 'body');
    const outcome = await scheduler.keepalive(request.params.taskId, tokenOf(body.token));
    return outcome.ok ? outcome : lost(reply, outcome);
  });

  app.post<{ Params: TaskParams }>('/tasks/:taskId/stop', options, async (request, reply) => {
    const body = parseOptions(stopBody, request.body ?? {}, 'body');
    const outcome = await scheduler.stop(request.params.taskId, {
      ...tokenOf(body.token),
      ...(body.status !== undefined && { status: body.status }),
      ...(body.error !== undefined && { error: body.error }),
    });
    return outcome.ok ? outcome : lost(reply, outcome);
  });

  app.post<{ Params: TaskParams }>('/tasks/:taskId/cancel', options, async (request, reply) => {
    const body = parseOptions(refBody, request.body ?? {}, 'body');
    const outcome = await scheduler.cancel(request.params.taskId, tokenOf(body.token));
    return outcome.ok ? outcome : lost(reply, outcome);
  });
}

function tokenOf(token: number | undefined): { token?: number } {
  return token === undefined ? {} : { token };
}
