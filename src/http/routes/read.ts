/**
 * The read-only routes: health (always open), and the slots and history as JSON, with the same
 * data and filters as the command line's `status --json` and `history --json`.
 */
import type { FastifyInstance } from 'fastify';
import { historyQueryFromParams, renameHistoryField } from '../../views/history-query.js';
import { servedSlotStatus } from '../../views/slot-status.js';
import type { HttpContext } from '../context.js';

export function readRoutes(app: FastifyInstance, { scheduler, health, metrics, readGuard }: HttpContext): void {
  const guarded = readGuard ? { preHandler: readGuard } : {};

  app.get('/healthz', async (_request, reply) => {
    const report = await health.check();
    return reply.code(report.healthy ? 200 : 503).send(report);
  });

  app.get('/readyz', async (_request, reply) => {
    const report = await health.check();
    return reply.code(report.ready ? 200 : 503).send(report);
  });

  app.get('/metrics', guarded, async (_request, reply) => {
    const { registry } = metrics;
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  app.get('/slots', guarded, async () => {
    const now = Date.now();
    return (await scheduler.inspect()).map((slot) => servedSlotStatus(slot, now));
  });

  app.get<{ Querystring: Record<string, string | string[]> }>('/history', guarded, async (request) => {
    // `history(query.outcome[1])` is the URL parameter `outcome`, as the client wrote it.
    return scheduler.history(historyQueryFromParams(request.query)).catch((error: unknown) => {
      throw renameHistoryField(error, (field) => field);
    });
  });
}
