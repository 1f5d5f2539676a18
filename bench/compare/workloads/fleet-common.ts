/** What the fleet workers of W4 and W7 share: the probed job, and a logger that counts. */
import type { Logger } from '../../../src/index.js';
import { connectRedis } from '../../harness/services.js';
import { sleep } from '../../harness/timing.js';

/**
 * A job of `jobMs` watched by an independent probe in Redis: INCR of `probe` at its start (the
 * reply is how many jobs run now, across every process), DECR at its end, with an INCR of
 * `done` whose reply tells the process that ended the run's `total`-th job.
 */
export async function probedJobs(keys: { probe: string; done: string }, jobMs: number, total: number, onLast: () => void) {
  const client = await connectRedis();
  const stats = { probeMax: 0, jobs: 0 };
  return {
    stats,
    async job(): Promise<void> {
      stats.probeMax = Math.max(stats.probeMax, await client.incr(keys.probe));
      await sleep(jobMs);
      const replies = await client.pipeline().decr(keys.probe).incr(keys.done).exec();
      stats.jobs++;
      if (replies?.[1]?.[1] === total) onLast();
    },
    close: () => client.disconnect(),
  };
}

/** A logger for the Scheduler that counts its errors and warnings and keeps the first few. */
export function countingLogger(): { logger: Logger; counts: { errors: number; warnings: number }; first: string[] } {
  const counts = { errors: 0, warnings: 0 };
  const first: string[] = [];
  const keep = (level: string, message: string) => void (first.length < 3 && first.push(`${level}: ${message}`));
  const ignore = () => undefined;
  const logger: Logger = {
    error: (message) => (counts.errors++, keep('error', message)),
    warn: (message) => (counts.warnings++, keep('warn', message)),
    info: ignore,
    debug: ignore,
    child: () => logger,
  };
  return { logger, counts, first };
}
