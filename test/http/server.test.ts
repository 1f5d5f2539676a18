/**
 * The HTTP endpoint as a client in any language sees it: real schedulers on real Redis and
 * PostgreSQL, a real socket, `fetch`. Every route, the bearer token (missing, wrong, right, none
 * configured), bad requests that get a clear 4xx and leave the process serving, and health that
 * turns unhealthy while the store is away and healthy once it is back.
 */
import test, { type ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { connect } from 'node:net';
import { HttpServer, type HttpServerOptions } from '../../src/http/index.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { harness, ScriptedBackend, slots, waitFor, type SlotKind } from '../../src/testing/scheduler-kit.js';
import { redisUrl, uniqueName } from '../helpers/services.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { closeSlotKinds, memoryKind, postgresKind, redisKind } from '../helpers/slot-kinds.js';
import { redisProxy } from '../helpers/tcp-proxy.js';

test.after.always(closeSlotKinds);

/** A parsed JSON answer, read field by field as a client would. */
type Json = ReturnType<typeof JSON.parse>;

const token = 'a-token-of-the-test-0123456789';
const bearer = { authorization: `Bearer ${token}` };

/** An endpoint of `scheduler` on a free port, closed at teardown. */
async function serve(t: ExecutionContext, scheduler: Scheduler, options: HttpServerOptions = {}) {
  const server = await HttpServer.start(scheduler, { port: 0, token, ...options });
  t.teardown(() => server.close());
  const call = async (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const { json, ...rest } = init;
    const headers = { ...(json === undefined ? {} : { 'content-type': 'application/json' }), ...(rest.headers as Record<string, string>) };
    const response = await fetch(`${server.url}${path}`, { ...rest, headers, ...(json !== undefined && { body: JSON.stringify(json) }) });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === '' ? null : (JSON.parse(text) as Json) };
  };
  const post = (path: string, json?: unknown, headers: Record<string, string> = bearer) => call(path, { method: 'POST', headers, json });
  return { server, call, post };
}

/** A scheduler of `kind` running two remote-style tasks (they report over HTTP) in 3 slots. */
async function running(t: ExecutionContext, kind: SlotKind) {
  const h = await harness(t, kind);
  const backend = new ScriptedBackend(['task-a', 'task-b']);
  const scheduler = h.scheduler({ work: backend });
  await scheduler.load(slots(3, ['work']));
  await scheduler.schedule();
  t.is(backend.started.length, 2);
  return { h, backend, scheduler };
}

for (const kind of [redisKind, postgresKind]) {
  test(`${kind.label}: keepalive, cancel and stop over HTTP answer the library's typed results`, async (t) => {
    const { backend, scheduler } = await running(t, kind);
    const { post } = await serve(t, scheduler);
    const token = backend.started.find((s) => s.taskId === 'task-a')!.token;

    const renewed = await post('/tasks/task-a/keepalive', { token });
    t.is(renewed.status, 200);
    t.like(renewed.body, { ok: true, taskId: 'task-a', token, cancelRequested: false });
    t.true(renewed.body!.deadline > renewed.body!.lastKeepaliveAt);
    t.is((await post('/tasks/task-a/keepalive')).status, 200, 'no body: whichever occupancy holds the task');

    t.like((await post('/tasks/task-a/cancel', {})).body, { ok: true, alreadyRequested: false, cancelRequested: true });
    t.like((await post('/tasks/task-a/keepalive', {})).body, { ok: true, cancelRequested: true }, 'the task is asked to stop');
    const stopped = await post('/tasks/task-a/stop', { token, status: 'cancelled' });
    t.is(stopped.status, 200);
    t.like(stopped.body, { ok: true, reason: 'cancelled', taskId: 'task-a' });
    t.like(backend.stopsOf('task-a'), [{ reason: 'cancelled' }], 'the stopCallback ran');

    const again = await post('/tasks/task-a/stop', {});
    t.is(again.status, 410, 'ended: gone');
    t.like(again.body, { ok: false, reason: 'ended', endReason: 'cancelled', token });
    const unknown = await post('/tasks/never-ran/keepalive', {});
    t.is(unknown.status, 404);
    t.deepEqual(unknown.body, { ok: false, reason: 'unknown', taskId: 'never-ran' });

    const failed = await post('/tasks/task-b/stop', { status: 'failed', error: 'disk full' });
    t.like(failed.body, { ok: true, reason: 'stopped', status: 'failed', error: 'disk full' });
  });
}

test('the control routes need the bearer token: missing or wrong is 401, none configured is 403; reads stay open unless guarded', async (t) => {
  const { scheduler } = await running(t, redisKind);
  const { post, call } = await serve(t, scheduler);

  const missing = await post('/tasks/task-a/keepalive', {}, {});
  t.is(missing.status, 401);
  t.is(missing.headers.get('www-authenticate'), 'Bearer');
  t.like(missing.body, { error: { code: 'ERR_HTTP_UNAUTHORIZED' } });
  t.is((await post('/tasks/task-a/keepalive', {}, { authorization: `Bearer ${token}x` })).status, 401);
  t.is((await post('/tasks/task-a/keepalive', {}, { authorization: `Bearer ${token.slice(0, -1)}` })).status, 401, 'a prefix is wrong too');
  t.is((await post('/tasks/task-a/keepalive', {}, { authorization: `Basic ${token}` })).status, 401);
  t.is((await post('/tasks/task-a/keepalive', {}, { authorization: `bearer ${token}` })).status, 200, 'the scheme is case-insensitive');
  t.is((await call('/slots')).status, 200, 'reads are open by default');

  const closed = await serve(t, scheduler, { token: undefined });
  const refused = await closed.post('/tasks/task-a/keepalive', {});
  t.is(refused.status, 403, 'no token configured: the control routes are off');
  t.regex(refused.body!.error.message, /http\.token/);

  const guarded = await serve(t, scheduler, { guardReads: true });
  t.is((await guarded.call('/slots')).status, 401);
  t.is((await guarded.call('/history')).status, 401);
  t.is((await guarded.call('/slots', { headers: bearer })).status, 200);
  t.is((await guarded.call('/healthz')).status, 200, 'health stays open for probes');
});

test('bad requests get a clear 4xx naming what is wrong, and the endpoint keeps serving', async (t) => {
  const { scheduler } = await running(t, redisKind);
  const { post, call } = await serve(t, scheduler, { bodyLimit: 2048 });
  const raw = (path: string, body: string) =>
    call(path, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body } as RequestInit);

  t.like(await raw('/tasks/task-a/stop', '{"status": '), { status: 400, body: { error: { code: 'FST_ERR_CTP_INVALID_JSON_BODY' } } });
  t.like(await post('/tasks/task-a/keepalive', { tokn: 3 }), {
    status: 400,
    body: { error: { code: 'ERR_CONFIG', field: 'body.tokn', allowed: 'unknown field `tokn`; allowed: token' } },
  });
  t.like(await post('/tasks/task-a/keepalive', { token: 'seven' }), { status: 400, body: { error: { field: 'body.token' } } });
  t.like(await post('/tasks/task-a/stop', { status: 7 }), { status: 400, body: { error: { field: 'body.status' } } });
  t.like(await post('/tasks/task-a/stop', [1, 2]), { status: 400, body: { error: { field: 'body' } } });
  t.like(await post('/tasks/task-a/stop', { error: 'x'.repeat(4000) }), {
    status: 413,
    body: { error: { code: 'FST_ERR_CTP_BODY_TOO_LARGE' } },
  });
  t.like(await post(`/tasks/${encodeURIComponent('bad\u0000id')}/stop`, {}), {
    status: 400,
    body: { error: { code: 'ERR_TASK_ID', field: 'taskId' } },
  });
  t.like(await post(`/tasks/${'x'.repeat(1025)}/keepalive`, {}), { status: 400, body: { error: { code: 'ERR_TASK_ID' } } });
  t.like(await call('/tasks/task-a/keepalive'), { status: 404, body: { error: { code: 'ERR_HTTP_NOT_FOUND' } } }, 'GET is no route');
  t.like(await call('/nowhere'), {
    status: 404,
    body: { error: { code: 'ERR_HTTP_NOT_FOUND', message: "no route GET /nowhere; see the README's HTTP section" } },
  });
  t.like(await call('/history?outcome=maybe'), { status: 400, body: { error: { field: 'outcome' } } });
  t.like(await call('/history?since=1h'), { status: 400, body: { error: { field: 'query' } } });
  t.like(await call('/history?startedAfter=yesterday'), { status: 400, body: { error: { field: 'startedAfter' } } });
  t.like(await call('/history?limit=0'), { status: 400, body: { error: { field: 'limit' } } });

  // Still serving, and a task id with any characters works, percent-encoded.
  t.like(await post('/tasks/task-b/keepalive', {}), { status: 200, body: { ok: true } });
  t.like(await post(`/tasks/${encodeURIComponent('dir/file ü?#')}/keepalive`, {}), { status: 404, body: { taskId: 'dir/file ü?#' } });
});

test('/slots and /history answer as the CLI does, with its filters', async (t) => {
  const { scheduler, backend } = await running(t, postgresKind);
  const { call, post } = await serve(t, scheduler);
  await post('/tasks/task-a/stop', { status: 'succeeded' });

  const shown = (await call('/slots')).body as unknown as Array<Json>;
  const slotOfB = backend.started.find((s) => s.taskId === 'task-b')!.slotId;
  t.deepEqual(
    shown.map((slot) => [slot.slotId, slot.status, slot.occupancy?.taskId ?? null, slot.configured]),
    ['1', '2', '3'].map((id) => (id === slotOfB ? [id, 'running', 'task-b', true] : [id, 'idle', null, true])),
  );
  const busy = shown.find((slot) => slot.status === 'running')!;
  t.like(busy, { holder: { pid: process.pid }, backends: ['work'] });
  t.true(busy.timeLeftMs > 0);

  const records = (await call('/history')).body as unknown as Array<Json>;
  t.deepEqual(records.map((r) => [r.taskId, r.outcome]).sort(), [
    ['task-a', 'succeeded'],
    ['task-b', 'running'],
  ]);
  const filtered = (await call('/history?outcome=succeeded,failed&taskId=task-a&taskId=task-b&startedAfter=1h&limit=5')).body as unknown[];
  t.like(filtered, [{ taskId: 'task-a', outcome: 'succeeded', status: 'succeeded' }]);
  t.is(filtered.length, 1);
});

test('health: 503 while the store is away or passes stop succeeding, 200 again once the scheduler makes progress', async (t) => {
  const { proxy, url } = await redisProxy(t);
  // No retries: a command sent while the store is away fails at once, as an operator's client would be set.
  const client = new Redis(url, { maxRetriesPerRequest: 0 });
  client.on('error', () => {});
  const keyPrefix = uniqueName('http_health');
  t.teardown(async () => {
    client.disconnect();
    const direct = new Redis(redisUrl);
    const keys = await direct.keys(`{${keyPrefix}:*`);
    if (keys.length) await direct.del(...keys);
    direct.disconnect();
  });
  const scheduler = new Scheduler({ name: uniqueName('health'), redis: client, keyPrefix, logger: false, defaultSlotClass: 'RedisSlot' });
  scheduler.registerBackend('work', new ScriptedBackend());
  t.teardown(() => scheduler.close());
  await scheduler.load(slots(2, ['work']));
  scheduler.start({ cron: '*/1 * * * * *' });
  const { call } = await serve(t, scheduler, { staleAfter: '2s' });
  await waitFor(async () => (await call('/healthz')).status === 200, 'healthy at first');
  const healthy = (await call('/healthz')).body!;
  t.like(healthy, {
    healthy: true,
    ready: true,
    problems: [],
    stores: { reachable: true, listening: [{ slotClass: 'RedisSlot', listening: true }] },
  });
  t.is((await call('/readyz')).status, 200);

  proxy.refuse(true);
  proxy.cut();
  await waitFor(async () => (await call('/healthz')).status === 503, 'unhealthy while Redis is away', 10_000);
  const sick = (await call('/healthz')).body!;
  t.false(sick.healthy);
  t.true(
    sick.problems.some((p: string) => p.startsWith('stores unreachable')),
    JSON.stringify(sick.problems),
  );
  t.like(
    sick.stores,
    { reachable: false, listening: [{ slotClass: 'RedisSlot', listening: false }] },
    'the pub/sub connection is down too',
  );
  t.true(sick.problems.includes("the RedisSlot store's events subscription is not listening"));
  await waitFor(
    async () => ((await call('/healthz')).body!.problems as string[]).some((p) => p.startsWith('no successful pass')),
    'passes stale',
    10_000,
  );
  t.is((await call('/readyz')).status, 503);

  proxy.refuse(false);
  await waitFor(async () => (await call('/healthz')).status === 200, 'healthy once Redis is back', 15_000);
  const back = (await call('/healthz')).body!;
  t.like(back, { healthy: true, stores: { reachable: true, listening: [{ listening: true }] } }, 'listening again');
  t.true(back.passes.sinceSuccessMs < 2000);
});

test('closing the endpoint does not wait for a connection that never sent a request', async (t) => {
  const h = await harness(t, redisKind);
  const scheduler = h.scheduler({ work: new ScriptedBackend() });
  await scheduler.load(slots(1, ['work']));
  const { server } = await serve(t, scheduler);
  // A spare connection, as Chromium opens ahead of need: connected, silent. Node's close() leaves
  // it open until its headersTimeout (60 s).
  const spare = connect(Number(new URL(server.url).port), '127.0.0.1');
  await new Promise((resolve) => spare.once('connect', resolve));
  const closed = new Promise((resolve) => spare.once('close', resolve));
  const began = Date.now();
  await server.close();
  await closed;
  t.true(Date.now() - began < 2000, `close took ${Date.now() - began} ms`);
});

test('an endpoint bound beyond this host with open reads is logged as a warning; on loopback, or guarded, it is not', async (t) => {
  const { scheduler } = await running(t, memoryKind);
  const warnings = async (options: HttpServerOptions) => {
    const { logger, entries } = capturingLogger();
    const server = await HttpServer.start(scheduler, { port: 0, ...options, logger });
    await server.close();
    return entries.filter((e) => e.level === 'warn').map((e) => [e.message, e.host]);
  };
  t.deepEqual(await warnings({ host: '0.0.0.0' }), [
    ['the HTTP endpoint listens beyond this host with its read routes open: set http.guardReads, or bind 127.0.0.1', '0.0.0.0'],
  ]);
  t.deepEqual(await warnings({ host: '0.0.0.0', token, guardReads: true }), []);
  t.deepEqual(await warnings({}), [], '127.0.0.1 by default');
});

test('/metrics serves the scheduler in Prometheus text format, behind the token with guardReads', async (t) => {
  const { scheduler } = await running(t, redisKind);
  const { server, post } = await serve(t, scheduler);
  await post('/tasks/task-a/stop', { status: 'succeeded' });
  const response = await fetch(`${server.url}/metrics`);
  t.is(response.status, 200);
  t.regex(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  const name = JSON.stringify(scheduler.name);
  t.true(text.includes(`task_semaphore_slots{scheduler=${name},slot_class="RedisSlot",backend="work",status="running"} 1`), text);
  t.true(text.includes(`task_semaphore_slots{scheduler=${name},slot_class="RedisSlot",backend="work",status="idle"} 2`));
  // Counted from this process's events since the endpoint started: the stop made over HTTP.
  t.true(text.includes(`task_semaphore_tasks_ended_total{scheduler=${name},backend="work",reason="stopped"} 1`));
  t.regex(text, /^process_cpu_user_seconds_total /m, "the process's default metrics too");

  const guarded = await serve(t, scheduler, { guardReads: true });
  t.is((await guarded.call('/metrics')).status, 401);
  t.is((await fetch(`${guarded.server.url}/metrics`, { headers: bearer })).status, 200);
});
