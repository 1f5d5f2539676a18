/**
 * The HTTP endpoint of a scheduler, on fastify: health, Prometheus metrics, the slot board, the
 * slots and history as JSON, and the control API of tasks. Off unless started; bound to 127.0.0.1 unless told otherwise. Requests are
 * logged (method, route, status, time) at debug, never their headers: the token stays out of logs.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { maxTaskIdBytes } from '../contracts/task-id.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import { requireToken } from './auth.js';
import type { HttpContext } from './context.js';
import { closeUnusedConnections } from './connections.js';
import { errorHandler, sendError } from './errors.js';
import { HealthMonitor } from './health.js';
import { collectMetrics, type SchedulerMetrics } from './metrics.js';
import { resolveHttpOptions, type HttpOptions, type ResolvedHttpOptions } from './http-options.js';
import { boardRoutes } from './routes/board.js';
import { readRoutes } from './routes/read.js';
import { taskRoutes } from './routes/tasks.js';

export interface HttpServerOptions extends HttpOptions {
  /** Where request failures (and, at debug, every request) are logged. @defaultValue none */
  logger?: Logger;
  /**
   * The prom-client registry `/metrics` serves, the scheduler's metrics added to it: yours, to
   * serve your own metrics beside them. @defaultValue a new one, with the process's default metrics
   */
  registry?: Registry;
}

/** A running endpoint. */
export class HttpServer {
  private constructor(
    readonly app: FastifyInstance,
    /** `http://host:port`, with the port actually bound. */
    readonly url: string,
    private readonly parts: { health: HealthMonitor; metrics: SchedulerMetrics },
  ) {}

  /**
   * Starts the endpoint of `scheduler` and resolves once it listens.
   * @throws ConfigError for bad options; the listen error (a port in use) as is
   */
  static async start(scheduler: Scheduler, options: HttpServerOptions = {}): Promise<HttpServer> {
    const { logger, registry, ...http } = options;
    const resolved = resolveHttpOptions(http, 'http');
    const log = logger ?? silentLogger();
    const { app, ...parts } = buildHttpApp(scheduler, resolved, log, registry);
    if (!isLoopback(resolved.host) && !resolved.guardReads) {
      // Task ids, holders and history are the operator's business: say so when they leave the host.
      log.warn('the HTTP endpoint listens beyond this host with its read routes open: set http.guardReads, or bind 127.0.0.1', {
        host: resolved.host,
      });
    }
    try {
      await app.listen({ host: resolved.host, port: resolved.port });
    } catch (error) {
      parts.health.close();
      parts.metrics.close();
      await app.close();
      throw error;
    }
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : resolved.port;
    const host = resolved.host.includes(':') ? `[${resolved.host}]` : resolved.host;
    return new HttpServer(app, `http://${host}:${port}`, parts);
  }

  /** Stops listening; requests under way finish first. */
  async close(): Promise<void> {
    this.parts.health.close();
    this.parts.metrics.close();
    await this.app.close();
  }
}

/** The fastify app of a scheduler's endpoint, not listening yet: what `HttpServer` runs, and tests inject into. */
export function buildHttpApp(
  scheduler: Scheduler,
  options: ResolvedHttpOptions,
  logger: Logger,
  registry?: Registry,
): { app: FastifyInstance; health: HealthMonitor; metrics: SchedulerMetrics } {
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit,
    // A task id in the path may be as long as the grammar allows, percent-encoded.
    routerOptions: { maxParamLength: 3 * maxTaskIdBytes },
  });
  const health = new HealthMonitor(scheduler, options.staleAfterMs);
  const metrics = collectMetrics(scheduler, registry ? { registry } : { defaultMetrics: true });
  const guard = requireToken(options.token);
  const context: HttpContext = {
    scheduler,
    options,
    logger,
    health,
    metrics,
    guard,
    readGuard: options.guardReads ? guard : undefined,
  };

  closeUnusedConnections(app);
  app.setErrorHandler(errorHandler(logger));
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'ERR_HTTP_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}; see the README's HTTP section`),
  );
  app.addHook('onResponse', async (request, reply) => {
    logger.debug('HTTP request', {
      method: request.method,
      route: request.routeOptions.url ?? null,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
    });
  });
  readRoutes(app, context);
  taskRoutes(app, context);
  boardRoutes(app, context);
  return { app, health, metrics };
}

/** Whether `host` is this machine only: the routes are then out of the network's reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
