/**
 * Contract cases of the history and of `purge`: each ended occupancy leaves exactly one record,
 * written by the call that ended it, with the outcome `historyOutcome` gives; running occupancies
 * are listed as `running`; filters AND across fields and OR within a list, an empty list matches
 * nothing; the newest come first; old records go by the store's cap or retention, the oldest
 * first; `purge` removes everything of one name, or nothing while its slots are busy. They check
 * stores that have `history` and `purge` (or whose factory sets `history`).
 */
import type { ExecutionContext, Macro, TestFn } from 'ava';
import { normalizeHistoryQuery, type HistoryQuery } from '../contracts/history.js';
import type { EndedOccupancy, HistoryRecord, Occupancy } from '../contracts/store.js';
import {
  backend,
  contractMacro,
  endRequest,
  must,
  ok,
  peersMacro,
  sleep,
  startRequest,
  timing,
  type CaseBody,
  type Harness,
  type StoreFactory,
} from './store-suite-kit.js';

/** `history` with the largest limit unless the query gives one. */
function history(h: Harness, query: HistoryQuery = {}): Promise<HistoryRecord[]> {
  must(h.store.history, `${h.store.kind} has no history()`);
  return h.store.history(normalizeHistoryQuery({ limit: 10_000, ...query }));
}

/** A case of a store that counts its history (`historySize`); passes on a store without it. */
function counted(body: (t: ExecutionContext<unknown>, h: Harness, size: (limit: number) => Promise<number>) => Promise<void>): CaseBody {
  return async (t, h) => {
    const { store } = h;
    if (store.historySize) await body(t, h, (limit) => store.historySize!(limit));
    else t.pass(`${store.kind} has no historySize`);
  };
}

function purge(h: Harness, force: boolean) {
  must(h.store.purge, `${h.store.kind} has no purge()`);
  return h.store.purge({ force });
}

/** A case of a store that keeps a history; passes on a store without one, unless the factory says it has one. */
function kept(factory: StoreFactory, body: CaseBody): CaseBody {
  return async (t, h) => {
    if ((h.store.history && h.store.purge) || factory.history) await body(t, h);
    else t.pass(`${h.store.kind} keeps no history`);
  };
}

/** The task ids of records, in the order given. */
const ids = (records: readonly HistoryRecord[]) => records.map((r) => r.taskId);

/** The record an ended occupancy must leave, but for `reservedAt`, which the caller checks. */
function recordOf(ended: EndedOccupancy, outcome: HistoryRecord['outcome'], keepalives = 0): Omit<HistoryRecord, 'reservedAt'> {
  return {
    taskId: ended.taskId,
    token: ended.token,
    slotId: ended.slotId,
    backend: ended.backend,
    owner: ended.owner,
    startedAt: ended.startedAt,
    lastKeepaliveAt: ended.lastKeepaliveAt,
    keepalives,
    endedAt: ended.endedAt,
    outcome,
    reason: ended.reason,
    status: ended.status,
    error: ended.error,
  };
}

/** Small gaps between steps, so that their store-clock times differ. */
const gap = () => sleep(5);

export function registerHistoryCases<C>(test: TestFn<C>, contract: Macro<[StoreFactory, CaseBody], C>, factory: StoreFactory): void {
  test(
    'each ended occupancy leaves one record, with its times, keepalives, token, holder and outcome',
    contract,
    factory,
    kept(factory, async (t, h) => {
      const slots = Array.from({ length: 12 }, (_, i) => String(i + 1));
      await h.init(slots);
      const expected = new Map<string, Omit<HistoryRecord, 'reservedAt'>>();
      const stopped = async (slotId: string, taskId: string, end: Parameters<Harness['end']>[1], outcome: HistoryRecord['outcome']) => {
        await h.run(slotId, taskId);
        const { ended } = ok(await h.end(taskId, end), `end of ${taskId}`);
        expected.set(taskId, recordOf(ended, outcome));
      };

      await h.run('1', 'task-ok', {}, 'holder-A');
      ok(await h.store.keepalive({ taskId: 'task-ok' }), 'keepalive');
      await gap();
      ok(await h.store.keepalive({ taskId: 'task-ok' }), 'keepalive');
      expected.set('task-ok', recordOf(ok(await h.end('task-ok', { status: 'succeeded' }), 'end').ended, 'succeeded', 2));
      await stopped('2', 'task-failed', { status: 'failed' }, 'failed');
      await stopped('3', 'task-error', { error: 'boom' }, 'failed');
      await h.run('4', 'task-cancel');
      ok(await h.store.requestCancel({ taskId: 'task-cancel' }), 'requestCancel');
      expected.set('task-cancel', recordOf(ok(await h.end('task-cancel'), 'end').ended, 'cancelled'));
      await stopped('5', 'task-start', { reason: 'start_failed', error: 'threw' }, 'failed');
      await stopped('6', 'task-removed', { reason: 'backend_removed' }, 'dropped');
      await stopped('7', 'task-dropped', { reason: 'dropped' }, 'dropped');
      await h.run('8', 'task-many-a');
      await h.run('9', 'task-many-b');
      const reserve = { owner: 'K', leaseMs: timing.long };
      const many = await h.endMany([
        endRequest('task-many-a', { status: 'succeeded', reserve }),
        endRequest('task-many-b', { status: 'cancelled' }),
      ]);
      expected.set('task-many-a', recordOf(ok(many[0]!, 'endMany').ended, 'succeeded'));
      expected.set('task-many-b', recordOf(ok(many[1]!, 'endMany').ended, 'cancelled'));

      // Reaped by a pass: the task's own timeout, its max runtime, and a lapsed process lease.
      const timeout = await h.run('10', 'task-timeout', { timeoutMs: timing.short });
      const max = await h.run('11', 'task-max', { maxRuntimeMs: timing.short });
      const lease = await h.run('12', 'task-lease', { timeoutMs: timing.short, processLease: true });
      await sleep(timing.wait);
      const reap = await h.pass('reaper', []);
      for (const [occupancy, reason, outcome] of [
        [timeout, 'timeout', 'timed_out'],
        [max, 'max_runtime', 'timed_out'],
        [lease, 'timeout', 'dropped'],
      ] as const) {
        expected.set(occupancy.taskId, recordOf({ ...occupancy, reason, endedAt: reap.now, status: null, error: null }, outcome));
      }

      const records = await history(h);
      t.deepEqual(ids(records).sort(), [...expected.keys()].sort(), 'one record per occupancy, none running');
      // A reaped record ends when a pass reaped it: the reaper's, or on a slow machine already the
      // pass that reserved the next slot (beginPass reaps the whole name). Either is past its expiry.
      const reaped = new Set([timeout.taskId, max.taskId, lease.taskId]);
      for (const record of records) {
        const { reservedAt, ...rest } = record;
        const want = expected.get(record.taskId)!;
        if (reaped.has(record.taskId)) {
          t.true(rest.endedAt! <= reap.now && rest.endedAt! >= rest.startedAt + timing.short, `${record.taskId}: reaped past its expiry`);
          t.deepEqual({ ...rest, endedAt: want.endedAt }, want, `the record of ${record.taskId}`);
        } else {
          t.deepEqual(rest, want, `the record of ${record.taskId}`);
        }
        t.true(
          reservedAt !== null && reservedAt <= record.startedAt && record.startedAt <= record.lastKeepaliveAt,
          `${record.taskId}: reserved (${reservedAt}) no later than started (${record.startedAt}), started no later than renewed`,
        );
        t.true(record.lastKeepaliveAt <= record.endedAt!, `${record.taskId}: renewed no later than ended`);
      }
      t.is(records.find((r) => r.taskId === 'task-ok')?.owner, 'holder-A');
      t.deepEqual(await history(h, { taskId: 'task-ok' }), [records.find((r) => r.taskId === 'task-ok')], 'by task id');
    }),
  );

  test(
    'running occupancies are listed as running, with a task’s earlier occupancies, and filters on ends leave them out',
    contract,
    factory,
    kept(factory, async (t, h) => {
      await h.init(['1', '2']);
      const first = await h.run('1', 'task-again');
      ok(await h.store.keepalive({ taskId: 'task-again' }), 'keepalive');
      ok(await h.end('task-again', { status: 'succeeded' }), 'end');
      await gap();
      const second = await h.run('2', 'task-again', {}, 'holder-B');
      let renewed: Occupancy = second;
      for (let i = 0; i < 3; i++) renewed = ok(await h.store.keepalive({ taskId: 'task-again' }), 'keepalive').occupancy;

      const records = await history(h, { taskId: 'task-again' });
      t.deepEqual(
        records.map((r) => [r.token, r.outcome, r.keepalives]),
        [
          [second.token, 'running', 3],
          [first.token, 'succeeded', 1],
        ],
        'newest first: the running occupancy, then the ended one',
      );
      const { reservedAt, ...running } = records[0]!;
      t.deepEqual(running, {
        taskId: 'task-again',
        token: second.token,
        slotId: '2',
        backend,
        owner: 'holder-B',
        startedAt: second.startedAt,
        lastKeepaliveAt: renewed.lastKeepaliveAt,
        keepalives: 3,
        endedAt: null,
        outcome: 'running',
        reason: null,
        status: null,
        error: null,
      });
      t.true(reservedAt !== null && reservedAt <= second.startedAt, 'reserved before it started');
      t.deepEqual(ids(await history(h, { outcome: 'running' })), ['task-again']);
      t.deepEqual((await history(h, { outcome: 'running' }))[0]?.token, second.token);
      for (const query of [
        { reason: 'stopped' },
        { status: 'succeeded' },
        { endedAfter: 0 },
        { endedBefore: Number.MAX_SAFE_INTEGER },
      ] as const) {
        t.deepEqual(
          (await history(h, query)).map((r) => r.token),
          [first.token],
          `${JSON.stringify(query)}: the running occupancy has no end`,
        );
      }
    }),
  );

  test(
    'filters AND across fields, OR within a list; an empty list matches nothing; time bounds include after, exclude before',
    contract,
    factory,
    kept(factory, async (t, h) => {
      await h.init(['1', '2', '3', '4']);
      await h.run('1', 'task-a', {}, 'A');
      await gap();
      await h.run('2', 'task-b', { backend: 'x' }, 'B');
      await gap();
      await h.run('3', 'task-c', {}, 'B');
      await gap();
      await h.run('4', 'task-d', { backend: 'x' }, 'A');
      await gap();
      ok(await h.end('task-a', { status: 'succeeded' }), 'end');
      await gap();
      ok(await h.end('task-b', { status: 'failed', deliverable: ['x'] }), 'end');
      await gap();
      ok(await h.end('task-c', { status: 'cancelled' }), 'end');

      const all = await history(h);
      t.deepEqual(ids(all), ['task-d', 'task-c', 'task-b', 'task-a'], 'newest first');
      const [d, c, b, a] = all as [HistoryRecord, HistoryRecord, HistoryRecord, HistoryRecord];
      must(a.startedAt < b.startedAt && b.startedAt < c.startedAt && c.startedAt < d.startedAt, 'distinct start times');
      must(a.endedAt! < b.endedAt! && b.endedAt! < c.endedAt!, 'distinct end times');

      const cases: [HistoryQuery, string[]][] = [
        [{ backend: 'x' }, ['task-d', 'task-b']],
        [{ backend: ['x', backend] }, ['task-d', 'task-c', 'task-b', 'task-a']],
        [{ backend: [] }, []],
        [{ owner: 'A' }, ['task-d', 'task-a']],
        [{ owner: 'B', backend }, ['task-c']],
        [{ owner: ['A', 'B'], backend: 'x', outcome: 'failed' }, ['task-b']],
        [{ slotId: ['1', '3'] }, ['task-c', 'task-a']],
        [{ slotId: [] }, []],
        [{ outcome: ['failed', 'cancelled'] }, ['task-c', 'task-b']],
        [{ outcome: 'running' }, ['task-d']],
        [{ outcome: [] }, []],
        [{ reason: 'cancelled' }, ['task-c']],
        [{ reason: ['stopped', 'timeout'] }, ['task-b', 'task-a']],
        [{ reason: [] }, []],
        [{ status: 'failed' }, ['task-b']],
        [{ status: [] }, []],
        [{ taskId: ['task-a', 'task-d', 'task-never'] }, ['task-d', 'task-a']],
        [{ taskId: [] }, []],
        [{ startedAfter: b.startedAt }, ['task-d', 'task-c', 'task-b']],
        [{ startedBefore: b.startedAt }, ['task-a']],
        [{ startedAfter: new Date(b.startedAt), startedBefore: new Date(d.startedAt) }, ['task-c', 'task-b']],
        [{ endedAfter: b.endedAt! }, ['task-c', 'task-b']],
        [{ endedBefore: b.endedAt! }, ['task-a']],
        [{ endedAfter: a.endedAt!, endedBefore: c.endedAt!, owner: 'B' }, ['task-b']],
      ];
      for (const [query, expected] of cases) t.deepEqual(ids(await history(h, query)), expected, JSON.stringify(query));
    }),
  );

  test(
    'records come newest first, by start then token, and limit keeps the first ones',
    contract,
    factory,
    kept(factory, async (t, h) => {
      const slots = ['1', '2', '3', '4', '5'];
      await h.init(slots);
      const { reserved } = await h.pass('A', slots);
      const started = await h.startMany(reserved.map((r, i) => startRequest(r, `task-${i}`)));
      must(
        started.every((s) => s.ok),
        `all started: ${JSON.stringify(started)}`,
      );
      await h.endMany(['task-1', 'task-3'].map((taskId) => endRequest(taskId)));
      const all = await history(h);
      t.is(all.length, 5);
      const sorted = [...all].sort((x, y) => y.startedAt - x.startedAt || y.token - x.token);
      t.deepEqual(all, sorted, 'by startedAt, then token, newest first');
      t.deepEqual(await history(h, { limit: 2 }), all.slice(0, 2));
      t.deepEqual(await history(h, { limit: 1, outcome: 'succeeded' }), all.filter((r) => r.outcome === 'succeeded').slice(0, 1));
    }),
  );

  test(
    'historySize counts the records kept, not the running occupancies, and no further than its limit',
    contract,
    factory,
    counted(async (t, h, size) => {
      await h.init(['1', '2', '3', '4']);
      t.is(await size(100), 0, 'no record yet');
      for (const taskId of ['task-a', 'task-b', 'task-c']) {
        await h.run('1', taskId);
        ok(await h.end(taskId), `end of ${taskId}`);
      }
      await h.run('3', 'task-running');
      // Last: only the reaper's pass, after the wait, may reap it.
      await h.run('2', 'task-timeout', { timeoutMs: timing.short });
      t.is(await size(100), 3, 'three ended, two running');
      await sleep(timing.wait);
      await h.pass('reaper', []);
      t.is(await size(100), 4, 'a reaped occupancy is a record too');
      t.is(await size(2), 2, 'counted no further than the limit');
      t.is(await size(4), 4);
    }),
  );

  test(
    'with the history off, ends write no record; running occupancies are still listed',
    contractMacro(test, { history: false }),
    factory,
    kept(factory, async (t, h) => {
      await h.init(['1', '2', '3']);
      await h.run('1', 'task-ended');
      ok(await h.end('task-ended'), 'end');
      await h.run('2', 'task-reaped', { timeoutMs: timing.short });
      await h.run('3', 'task-running');
      await sleep(timing.wait);
      // Reaped by this pass, or already by the one that reserved slot 3 when the machine is slow.
      await h.pass('reaper', []);
      t.is((await h.slot('2')).status, 'idle', 'reaped');
      t.deepEqual(
        (await history(h)).map((r) => [r.taskId, r.outcome]),
        [['task-running', 'running']],
      );
      if (h.store.historySize) t.is(await h.store.historySize(100), 0, 'historySize: no record');
    }),
  );

  test(
    'old records go by the store’s cap or retention, the oldest first, and new ones are still kept',
    contractMacro(test, { history: { maxEntries: 10, retentionMs: timing.short } }),
    factory,
    kept(factory, async (t, h) => {
      const slots = Array.from({ length: 30 }, (_, i) => String(i + 1));
      await h.init(slots);
      const endedAt = new Map<number, number>(); // token -> endedAt, of the 300 ended below
      for (let round = 0; round < 10; round++) {
        const { reserved } = await h.pass('A', slots);
        must(reserved.length === slots.length, `round ${round}: all slots reserved`);
        await h.startMany(reserved.map((r, i) => startRequest(r, `task-${round}-${i}`)));
        for (const result of await h.endMany(reserved.map((_, i) => endRequest(`task-${round}-${i}`)))) {
          const { ended } = ok(result, 'endMany');
          endedAt.set(ended.token, ended.endedAt);
        }
      }
      await sleep(timing.wait);
      await h.pass('pruner', [], { limit: 1000 });
      await h.run('1', 'task-last');
      ok(await h.end('task-last'), 'end');

      const records = await history(h);
      t.true(records.length < 301, `${records.length} of 301 kept`);
      t.is(records.find((r) => r.taskId === 'task-last')?.outcome, 'succeeded', 'a record written since is kept');
      // Every record kept ended no earlier than every record dropped: they go in end order.
      const keptTokens = new Set(records.map((r) => r.token));
      const dropped = [...endedAt].filter(([token]) => !keptTokens.has(token)).map(([, at]) => at);
      const kept = [...endedAt].filter(([token]) => keptTokens.has(token)).map(([, at]) => at);
      t.true(dropped.length > 0, 'old records went');
      t.true(kept.length === 0 || Math.max(...dropped) <= Math.min(...kept), 'the records kept are the newest ones');
    }),
  );

  test(
    'purge refuses while a slot is running or reserved under a live lease, and changes nothing',
    contract,
    factory,
    kept(factory, async (t, h) => {
      await h.init(['1', '2', '3']);
      const running = await h.run('1', 'task-run');
      const { reserved } = await h.pass('R', ['2']);
      must(reserved.length === 1, 'slot 2 reserved');
      const before = await h.store.inspect();
      t.deepEqual(await purge(h, false), {
        purged: false,
        running: [{ taskId: 'task-run', token: running.token, slotId: '1', owner: 'runner' }],
        reserved: [{ slotId: '2', owner: 'R' }],
      });
      t.deepEqual(await h.store.inspect(), before, 'nothing changed');
      ok(await h.store.keepalive({ taskId: 'task-run', token: running.token }), 'the task still holds its slot');

      // A lapsed reservation holds nothing: only the running task blocks the purge now.
      await h.store.release(reserved);
      const { reserved: lapsing } = await h.pass('L', ['2'], { leaseMs: timing.short });
      must(lapsing.length === 1, 'slot 2 reserved again');
      await sleep(timing.wait);
      t.like(await purge(h, false), { purged: false, reserved: [] });
      ok(await h.end('task-run'), 'end');
      t.like(await purge(h, false), { purged: true, slots: 3, dropped: [] });
    }),
  );

  test(
    'purge with force removes everything of the name; old tokens answer unknown and the name is usable again, tokens still growing',
    contract,
    factory,
    kept(factory, async (t, h) => {
      await h.init(['1', '2', '3']);
      const running = await h.run('1', 'task-run');
      const outboxed = await h.run('2', 'task-x', { backend: 'x' });
      ok(await h.end('task-x', { deliverable: [] }), 'end to the outbox');
      await h.run('3', 'task-logged');
      const delivery = h.store.acknowledge ? { owner: 'D', leaseMs: timing.short } : undefined;
      ok(await h.end('task-logged', delivery ? { delivery } : {}), 'end to the delivery log');
      const { reserved } = await h.pass('R', ['2']);

      t.deepEqual(await purge(h, true), { purged: true, slots: 3, dropped: [{ taskId: 'task-run', token: running.token }] });
      t.deepEqual(await h.store.inspect(), [], 'no slot');
      t.deepEqual(await history(h), [], 'no history');
      for (const ref of [
        { taskId: 'task-run', token: running.token },
        { taskId: 'task-run' },
        { taskId: 'task-x', token: outboxed.token },
      ]) {
        t.deepEqual(await h.store.keepalive(ref), { ok: false, reason: 'unknown' }, `keepalive ${JSON.stringify(ref)}`);
      }
      t.deepEqual(await h.end('task-run'), { ok: false, reason: 'unknown' });
      await sleep(timing.wait); // the delivery lease lapses: a record still logged would come back
      t.deepEqual(
        (await h.pass('has-x', [], { deliverable: ['x', backend], deliveryLeaseMs: timing.long })).ended,
        [],
        'no outbox entry, no logged record',
      );

      await h.init(['1', '2']);
      t.deepEqual(
        (await h.store.inspect()).map((s) => [s.slotId, s.status]),
        [
          ['1', 'idle'],
          ['2', 'idle'],
        ],
        'init creates the slots again',
      );
      const again = await h.run('1', 'task-run');
      t.true(again.token > reserved[0]!.token, `token ${again.token} after ${reserved[0]!.token}: tokens keep growing`);
      t.deepEqual(await h.store.keepalive({ taskId: 'task-run', token: running.token }), { ok: false, reason: 'unknown' });
      t.deepEqual(
        (await history(h)).map((r) => [r.taskId, r.token, r.outcome]),
        [['task-run', again.token, 'running']],
      );
    }),
  );

  if (factory.createPeers) {
    test('historySize counts only its own name’s records', peersMacro(test), factory, ['a', 'b'], async (t, stores) => {
      const [a, b] = stores as [Harness, Harness];
      if (!a.store.historySize || !b.store.historySize) {
        t.pass(`${a.store.kind} has no historySize`);
        return;
      }
      await Promise.all([a.init(['1']), b.init(['1'])]);
      for (const taskId of ['task-1', 'task-2']) {
        await a.run('1', taskId);
        ok(await a.end(taskId), `end of ${taskId}`);
      }
      await b.run('1', 'task-1');
      ok(await b.end('task-1'), 'end');
      t.is(await a.store.historySize(100), 2);
      t.is(await b.store.historySize(100), 1);
    });

    test('purge leaves the other scheduler names sharing the backing alone', peersMacro(test), factory, ['a', 'b'], async (t, stores) => {
      const [a, b] = stores as [Harness, Harness];
      if (!((a.store.history && a.store.purge) || factory.history)) {
        t.pass(`${a.store.kind} keeps no history`);
        return;
      }
      await Promise.all([a.init(['1', '2']), b.init(['1', '2'])]);
      await a.run('1', 'task-shared');
      const kept = await b.run('1', 'task-shared');
      await b.run('2', 'task-ended');
      ok(await b.end('task-ended'), 'end');
      const before = { slots: await b.store.inspect(), history: await history(b) };

      t.like(await purge(a, true), { purged: true, slots: 2 });
      t.deepEqual(await a.store.inspect(), []);
      t.deepEqual(await b.store.inspect(), before.slots, "the other name's slots");
      t.deepEqual(await history(b), before.history, "the other name's history");
      ok(await b.store.keepalive({ taskId: 'task-shared', token: kept.token }), "the other name's task");
      t.like(await b.store.keepalive({ taskId: 'task-ended' }), { ok: false, reason: 'ended' }, "the other name's ends");
    });
  }
}
