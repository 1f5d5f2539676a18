/**
 * One page's server-sent events (`GET /events`): a `snapshot` at once, then again on each change
 * the scheduler reports and at least every `refreshMs` (other hosts' changes reach the store, not
 * this process's events); a `problem` when a snapshot cannot be read; a comment line every
 * `heartbeatMs` so proxies keep an idle connection open.
 *
 * A busy scheduler does not flood the page: changes are gathered for `settleMs`, two snapshots
 * are at least `minGapMs` apart, one is read at a time, and none is written while the socket has
 * not drained the last. Everything the stream adds (scheduler listeners, timers) goes when the
 * page disconnects or the server closes.
 */
import type { ServerResponse } from 'node:http';
import type { Scheduler } from '../../scheduler/scheduler.js';
import type { BoardFeed } from './board-feed.js';
import { listenTo } from './listen.js';

export interface StreamTiming {
  /** The longest time between two snapshots. */
  refreshMs: number;
  /** How long changes are gathered before a snapshot is read. */
  settleMs: number;
  /** The shortest time between two snapshots. */
  minGapMs: number;
  heartbeatMs: number;
}

export const streamTiming: StreamTiming = Object.freeze({ refreshMs: 1000, settleMs: 100, minGapMs: 250, heartbeatMs: 15_000 });

/** How long a page waits before it reconnects after a drop, as the stream tells EventSource. */
const retryMs = 2000;

/** Headers of the stream: never cached, never buffered by a proxy (nginx reads `X-Accel-Buffering`). */
export const streamHeaders = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Accel-Buffering': 'no',
  'X-Content-Type-Options': 'nosniff',
};

/**
 * Streams snapshots of `feed` to `response`, whose headers this writes. Returns the function
 * that ends the stream (the server's close); the page closing the connection ends it too.
 */
export function streamBoard(
  response: ServerResponse,
  scheduler: Scheduler,
  feed: BoardFeed,
  timing: StreamTiming = streamTiming,
): () => void {
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  /** When the pending timer fires, ms (performance.now()). */
  let dueAt = Infinity;
  let reading = false;
  /** A change arrived while a snapshot was being read: read another once it is written. */
  let changedMeanwhile = false;
  let lastSentAt = -Infinity;
  let awaitingDrain = false;

  const write = (text: string) => {
    if (!closed) response.write(text);
  };

  /** Reads the next snapshot in `delayMs`, unless one is due sooner. */
  const schedule = (delayMs: number) => {
    if (closed) return;
    const at = performance.now() + Math.max(0, delayMs);
    if (timer !== undefined && dueAt <= at) return;
    clearTimeout(timer);
    dueAt = at;
    timer = setTimeout(() => void send(), Math.max(0, delayMs)).unref();
  };

  const onChange = () => {
    if (reading) changedMeanwhile = true;
    else schedule(Math.max(timing.settleMs, lastSentAt + timing.minGapMs - performance.now()));
  };

  const send = async () => {
    timer = undefined;
    dueAt = Infinity;
    // A page that reads slower than snapshots come gets the newest once it has caught up.
    if (response.writableNeedDrain) {
      if (!awaitingDrain) {
        awaitingDrain = true;
        response.once('drain', () => {
          awaitingDrain = false;
          schedule(0);
        });
      }
      return;
    }
    reading = true;
    changedMeanwhile = false;
    try {
      const json = await feed.snapshot();
      write(`event: snapshot\ndata: ${json}\n\n`);
    } catch (error) {
      write(`event: problem\ndata: ${JSON.stringify({ message: error instanceof Error ? error.message : String(error) })}\n\n`);
    } finally {
      reading = false;
      lastSentAt = performance.now();
      schedule(changedMeanwhile ? timing.minGapMs : timing.refreshMs);
    }
  };

  const unlisten = listenTo(scheduler, {
    'task:start': onChange,
    'task:stop': onChange,
    'task:timeout': onChange,
    'task:reject': onChange,
    'pass:end': onChange,
    'refill:end': onChange,
    'pass:error': onChange,
  });
  // Unref'd: the open socket, not these timers, is what keeps a server's process alive.
  const heartbeat = setInterval(() => write(': heartbeat\n\n'), timing.heartbeatMs).unref();

  const cleanUp = () => {
    if (closed) return;
    closed = true;
    unlisten();
    clearTimeout(timer);
    clearInterval(heartbeat);
  };
  response.on('close', cleanUp);

  response.writeHead(200, streamHeaders);
  write(`retry: ${retryMs}\n\n`);
  schedule(0);

  return () => {
    cleanUp();
    response.end();
  };
}
