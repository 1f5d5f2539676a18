import { ConfigError } from '../../src/core/errors.js';
import type { ProcrastinateErrorCode } from './errors.js';
import { checkStorable } from './job-fields.js';

/**
 * Procrastinate notifies on the channel `procrastinate_queue_v1#<queue>`; PostgreSQL cuts channel
 * names at 63 bytes and the prefix takes 23, so a longer queue name fails every insert.
 */
export const maxQueueNameBytes = 40;

/** Checks one queue name. @throws ConfigError naming the field, the name and the limit */
export function validateQueueName(queue: unknown, field: string): string {
  if (typeof queue !== 'string' || queue.length === 0) {
    throw new ConfigError(field, queue, 'allowed: a non-empty queue name');
  }
  checkStorable(queue, field, 'allowed: a non-empty queue name');
  const bytes = Buffer.byteLength(queue, 'utf8');
  if (bytes > maxQueueNameBytes) {
    throw new ConfigError<ProcrastinateErrorCode>(
      field,
      queue,
      `a queue name is at most ${maxQueueNameBytes} bytes in UTF-8 (this one has ${bytes}): Procrastinate's NOTIFY channel "procrastinate_queue_v1#<queue>" must fit in 63`,
      'ERR_QUEUE_NAME',
    );
  }
  return queue;
}

/**
 * Checks the queues a backend serves: an explicit, non-empty list, so that it never takes the
 * jobs of Python workers' queues. @throws ConfigError
 */
export function validateQueues(queues: unknown, field = 'queues'): string[] {
  if (!Array.isArray(queues) || queues.length === 0) {
    throw new ConfigError<ProcrastinateErrorCode>(
      field,
      queues,
      'allowed: a non-empty array of queue names (never "all queues", which would take Python workers\' jobs)',
    );
  }
  return queues.map((queue, i) => validateQueueName(queue, `${field}[${i}]`));
}
