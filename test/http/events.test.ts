/**
 * The board's live feed, `GET /events`, read over real HTTP without a browser: its snapshots (shape,
 * and following the scheduler's changes), its guard, its pace under a busy scheduler, and that every
 * scheduler listener and timer it adds goes when a page disconnects or the server closes.
 */
import test, { type ExecutionContext } from 'ava';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BoardFeed, type BoardSnapshot } from '../../src/http/board/board-feed.js';
import { streamBoard } from '../../src/http/board/event-stream.js';
import { HealthMonitor, HttpServer } from '../../src/http/index.js';
import type { SchedulerEvents } from '../../src/scheduler/events.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import { ScriptedBackend, harness, slots, waitFor } from '../../src/testing/scheduler-kit.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { EventStreamReader } from '../helpers/event-stream-reader.js';
import { closeSlotKinds, redisKind } from '../helpers/slot-kinds.js';
import { redisProxy } from '../helpers/tcp-proxy.js';

test.after.always(closeSlotKinds);

/** The events a stream listens to, to count its listeners by. */
const watched: Array<keyof SchedulerEvents> = [
  'task:start',
  'task:stop',
  'task:timeout',
  'task:reject',
  'pass:end',
  'refill:end',
  'pass:error',
];

const listeners = (scheduler: Scheduler) => Object.fromEntries(watched.map((event) => [event, scheduler.listenerCount(event)]));

/** A scheduler of `count` slots fed by backend `A`, on the test's own Redis keys, with its endpoint. */
async function boardOn(t: ExecutionContext, count: number, http: Parameters<typeof HttpServer.start>[1] = {}) {
  const h = await harness(t, redisKind);
  const backend = new ScriptedBackend();
  const scheduler = h.scheduler({ A: backend });
  await scheduler.load(slots(count, ['A']));
  const before = listeners(scheduler);
  const server = await HttpServer.start(scheduler, { port: 0, ...http });
  t.teardown(() => server.close());
  return { h, backend, scheduler, server, before };
}

/** Reads snapshots until one satisfies `check`; fails with the last one seen after `ms`. */
async function snapshotWhere(reader: EventStreamReader, check: (snapshot: BoardSnapshot) => boolean, ms = 4000): Promise<BoardSnapshot> {
  const until = Date.now() + ms;
  let last: BoardSnapshot | undefined;
  while (Date.now() < until) {
    last = JSON.parse((await reader.nextNamed('snapshot', until - Date.now())).data) as BoardSnapshot;
    if (check(last)) return last;
  }
  throw new Error(`no snapshot as expected within ${ms} ms; the last: ${JSON.stringify(last)}`);
}

test('GET /events sends a snapshot at once, then the changes, and a page leaving frees its listeners', async (t) => {
  const { h, backend, scheduler, server, before } = await boardOn(t, 2);
  // The endpoint itself listens from the start (health, the strip of recent events): the baseline.
  const baseline = listeners(scheduler);

  const reader = await EventStreamReader.open(`${server.url}/events`);
  t.teardown(() => reader.close());
  t.is(reader.response.status, 200);
  t.is(reader.response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  t.is(reader.response.headers.get('cache-control'), 'no-store');

  const first = JSON.parse((await reader.next()).data) as BoardSnapshot;
  t.is(typeof first.at, 'number');
  t.deepEqual(first.scheduler, { name: h.name, owner: scheduler.owner });
  t.deepEqual(first.summary, { total: 2, busy: 0, idle: 2, reserved: 0, running: 0, overdue: 0, draining: 0 });
  t.deepEqual(
    first.slots.map((slot) => [slot.slotId, slot.state, slot.configured, slot.backends]),
    [
      ['1', 'idle', true, ['A']],
      ['2', 'idle', true, ['A']],
    ],
  );
  t.deepEqual(first.events, []);
  t.deepEqual(first.history, { records: [], error: null });
  t.true(first.health.healthy, first.health.problems.join('; '));
  // One listener per watched event while the page is open.
  t.deepEqual(listeners(scheduler), Object.fromEntries(watched.map((event) => [event, baseline[event]! + 1])));

  backend.queue.push('job-1');
  await scheduler.schedule();
  const running = await snapshotWhere(reader, (s) => s.slots[0]?.occupancy?.taskId === 'job-1');
  t.is(running.slots[0]!.state, 'running');
  t.is(running.summary.busy, 1);
  t.like(running.slots[0], { holder: { pid: process.pid }, occupancy: { backend: 'A' } });
  t.true(running.slots[0]!.timeLeftMs! > 0);
  t.like(running.events.at(-1), { kind: 'start', taskId: 'job-1', slotId: '1', backend: 'A' });
  t.like(running.history.records?.[0], { taskId: 'job-1', outcome: 'running' });

  await scheduler.stop('job-1', { status: 'failed', error: 'disk full' });
  const stopped = await snapshotWhere(reader, (s) => s.slots[0]?.state === 'idle');
  t.like(stopped.events.at(-1), { kind: 'stop', taskId: 'job-1', reason: 'stopped', status: 'failed', error: 'disk full' });
  t.like(stopped.history.records?.[0], { taskId: 'job-1', outcome: 'failed', error: 'disk full' });

  reader.close();
  await waitFor(() => scheduler.listenerCount('task:start') === baseline['task:start'], 'the stream to remove its listeners');
  t.deepEqual(listeners(scheduler), baseline);

  // Pages that come and go, some before their first snapshot: nothing stays behind.
  for (let i = 0; i < 12; i++) {
    const page = await EventStreamReader.open(`${server.url}/events`);
    if (i % 2 === 0) await page.nextNamed('snapshot');
    page.close();
  }
  await waitFor(() => watched.every((event) => scheduler.listenerCount(event) === baseline[event]), 'every stream to remove its listeners');
  t.deepEqual(listeners(scheduler), baseline);

  // Closing the server ends an open stream rather than waiting for the page, and removes the rest.
  const open = await EventStreamReader.open(`${server.url}/events`);
  await open.nextNamed('snapshot');
  const began = Date.now();
  await server.close();
  t.true(Date.now() - began < 2000, `close took ${Date.now() - began} ms with a page open`);
  await t.throwsAsync(() => open.next(1000), { message: /ended|aborted|terminated/ });
  t.deepEqual(listeners(scheduler), before);
});

test('a busy scheduler does not flood a page; heartbeats keep an idle stream open', async (t) => {
  const h = await harness(t, redisKind);
  const backend = new ScriptedBackend();
  const scheduler = h.scheduler({ A: backend });
  await scheduler.load(slots(20, ['A']));
  const health = new HealthMonitor(scheduler);
  const feed = new BoardFeed(scheduler, health);
  // The production pace but for a refresh far off, so every snapshot here answers a change.
  const timing = { refreshMs: 60_000, settleMs: 100, minGapMs: 300, heartbeatMs: 100 };
  const ends = new Set<() => void>();
  const server = createServer((_request, response) => ends.add(streamBoard(response, scheduler, feed, timing)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const end of ends) end();
    await new Promise((resolve) => server.close(resolve));
    feed.close();
    health.close();
  });
  const reader = await EventStreamReader.open(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  t.teardown(() => reader.close());
  await reader.nextNamed('snapshot');

  /** Snapshots received within `ms`. */
  const snapshotsWithin = async (ms: number) => {
    const seen: BoardSnapshot[] = [];
    const until = Date.now() + ms;
    for (;;) {
      const left = until - Date.now();
      if (left <= 0) return seen;
      const event = await reader.next(left).catch(() => undefined);
      if (event === undefined) return seen;
      if (event.event === 'snapshot') seen.push(JSON.parse(event.data) as BoardSnapshot);
    }
  };

  // Twenty starts and a pass end in a moment: a few snapshots, the last with every task running.
  backend.queue.push(...Array.from({ length: 20 }, (_, i) => `busy-${i}`));
  await scheduler.schedule();
  const afterStarts = await snapshotsWithin(1500);
  t.true(afterStarts.length >= 1 && afterStarts.length <= 3, `${afterStarts.length} snapshots for 21 events`);
  t.is(afterStarts.at(-1)!.summary.busy, 20);

  await Promise.all(Array.from({ length: 20 }, (_, i) => scheduler.stop(`busy-${i}`)));
  const afterStops = await snapshotsWithin(1500);
  t.true(afterStops.length >= 1 && afterStops.length <= 4, `${afterStops.length} snapshots for 20 stops and their refills`);
  t.is(afterStops.at(-1)!.summary.busy, 0);
  t.true(reader.comments.filter((comment) => comment === 'heartbeat').length >= 10, `heartbeats: ${reader.comments.length}`);
});

test('a store that stops answering is a problem event, and the snapshots come back with it', async (t) => {
  t.timeout(30_000);
  const { proxy, url } = await redisProxy(t);
  const h = await harness(t, redisKind);
  // The harness's key prefix, through the proxy: its teardown removes the keys.
  const scheduler = h.scheduler({ A: new ScriptedBackend() }, { redis: url });
  await scheduler.load(slots(1, ['A']));
  const server = await HttpServer.start(scheduler, { port: 0 });
  t.teardown(() => server.close());
  const reader = await EventStreamReader.open(`${server.url}/events`);
  t.teardown(() => reader.close());
  await reader.nextNamed('snapshot');

  proxy.refuse(true);
  proxy.cut();
  const problem = JSON.parse((await reader.nextNamed('problem', 10_000)).data) as { message: string };
  t.true(problem.message.length > 0);

  proxy.refuse(false);
  const back = await snapshotWhere(reader, (s) => s.slots.length === 1, 15_000);
  t.is(back.slots[0]!.state, 'idle');
});

test('with guardReads, the board and its events take the token as a header or a URL parameter, which no log line shows', async (t) => {
  const token = 'board-token-0123456789abcdef';
  const { logger, entries } = capturingLogger();
  const { server } = await boardOn(t, 1, { token, guardReads: true, logger });

  const page = await fetch(`${server.url}/`);
  t.is(page.status, 401);
  t.regex(((await page.json()) as { error: { message: string } }).error.message, /\?token=/);
  t.is((await fetch(`${server.url}/?token=not-the-token-at-all`)).status, 401);

  const allowed = await fetch(`${server.url}/?token=${token}`);
  t.is(allowed.status, 200);
  t.regex(allowed.headers.get('content-type')!, /^text\/html/);
  const policy = allowed.headers.get('content-security-policy')!;
  t.regex(policy, /default-src 'self'/);
  t.notRegex(policy, /unsafe-inline|unsafe-eval/);
  t.is(allowed.headers.get('referrer-policy'), 'no-referrer');
  t.regex(await allowed.text(), /<script type="module" src="board\/board\.js"><\/script>/);

  // Style and script carry no data: open, so the page loads them without the token.
  const script = await fetch(`${server.url}/board/board.js`);
  t.is(script.status, 200);
  t.regex(script.headers.get('content-type')!, /^text\/javascript/);

  const refused = await EventStreamReader.open(`${server.url}/events`);
  t.is(refused.response.status, 401);
  for (const reader of [
    await EventStreamReader.open(`${server.url}/events?token=${token}`),
    await EventStreamReader.open(`${server.url}/events`, { Authorization: `Bearer ${token}` }),
  ]) {
    t.is(reader.response.status, 200);
    t.is((await reader.next()).event, 'snapshot');
    reader.close();
  }
  // The URL parameter is the board's alone: the JSON routes take the header only.
  t.is((await fetch(`${server.url}/slots?token=${token}`)).status, 401);

  const logged = JSON.stringify(entries);
  t.true(
    entries.some((entry) => entry.route === '/'),
    'requests are logged, by route',
  );
  t.false(logged.includes(token), 'no log line carries the token');
});
