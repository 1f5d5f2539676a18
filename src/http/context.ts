import type { Logger } from '../core/logger.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { HealthMonitor } from './health.js';
import type { SchedulerMetrics } from './metrics.js';
import type { ResolvedHttpOptions } from './http-options.js';

/** What every route module is given. */
export interface HttpContext {
  scheduler: Scheduler;
  options: ResolvedHttpOptions;
  logger: Logger;
  health: HealthMonitor;
  /** What `/metrics` serves. */
  metrics: SchedulerMetrics;
  /** The preHandler of routes the token guards. */
  guard: (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => Promise<void>;
  /** The preHandler of read-only routes: the guard with `guardReads`, else none. */
  readGuard: ((request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => Promise<void>) | undefined;
}
