/**
 * What the slot-store conformance cases share: the factory type users implement, the ava macro that
 * gives every case a fresh store under a unique scheduler name, and small helpers that drive a store
 * through the contract with sensible defaults.
 *
 * Besides Node built-ins it imports only types (from ava and the contract), so a published copy of
 * this suite pulls in nothing the caller's test file does not already have.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext, Macro, TestFn } from 'ava';
import type {
  BeginPassRequest,
  BeginPassResult,
  EndedOccupancy,
  EndRequest,
  EndResult,
  Occupancy,
  Reservation,
  SlotId,
  SlotState,
  SlotStore,
  StartRequest,
  StartResult,
} from '../contracts/store.js';
import type { StoreHistoryOptions } from '../contracts/history.js';

/** Options some cases build their store with; a factory passes them on to the store's constructor. */
export interface StoreCaseOptions {
  /** The store's history option (see `StoreHistoryOptions`); absent: the store's default. */
  history?: StoreHistoryOptions;
}

/** Builds one isolated store for one test. */
export interface StoreFactory {
  /** Prefixed to every test title, e.g. `redis`. */
  name: string;
  /**
   * A new store for `schedulerName`, whose state no other test sees. The suite calls
   * `store.close()` and then `cleanup()` when the test ends, pass or fail: `cleanup` releases what
   * the factory opened for this test (a schema, a client), and may check that what it shares
   * across tests is still usable. The history cases pass `options`, which the store must be built
   * with (e.g. `new MyStore({ name, ...options })`).
   */
  create(schedulerName: string, options?: StoreCaseOptions): Promise<{ store: SlotStore; cleanup(): Promise<void> }>;
  /**
   * Optional: several stores on ONE backing (the same server and schema or key prefix), one per
   * entry of `schedulerNames`, which may repeat a name. With it the suite also checks that stores
   * of one name share their slots (as schedulers in many processes do) and that names sharing a
   * backing never see each other's slots, task ids, outbox or records. The suite closes every
   * store, then calls `cleanup()`.
   */
  createPeers?(schedulerNames: readonly string[]): Promise<{ stores: SlotStore[]; cleanup(): Promise<void> }>;
  /**
   * Optional: the store keeps a delivery log (`acknowledge`, and the delivery leases of `end` and
   * `beginPass`). The delivery cases run on every store that has `acknowledge`; with this set, a
   * store without it fails them rather than passing them as a store that keeps no log.
   */
  deliveryLog?: boolean;
  /**
   * Optional: the store keeps a history and can purge a name (`history`, `purge`). Those cases run
   * on every store that has the methods; with this set, a store without them fails them.
   */
  history?: boolean;
  /**
   * Optional: the store can acquire a slot in one step and keeps a queue of waiters (`acquire`,
   * `leaveQueue`). Those cases run on every store that has the methods; with this set, a store
   * without them fails them.
   */
  acquire?: boolean;
}

/** Real-time margins: long enough to survive a loaded CI machine, short enough to keep the suite quick. */
export const timing = {
  /** A timeout or lease meant to lapse during the test. */
  short: 150,
  /** How long to wait for a `short` one to lapse: the gap absorbs clock granularity and scheduling delay. */
  wait: 400,
  /** A timeout, lease or retention meant never to lapse during the test. */
  long: 60_000,
} as const;

/** The backend most cases start tasks of; the default `deliverable` list holds it. */
export const backend = 'b';

export { sleep };

/** A fresh store as one case sees it, with helpers bound to it. */
export interface Harness {
  store: SlotStore;
  /** The unique scheduler name this store was created for. */
  schedulerName: string;
  /** `init` these slots. */
  init(slotIds: readonly SlotId[]): Promise<void>;
  /** `beginPass` as `owner` over `slotIds`, with long leases and retention, `[backend]` deliverable, limit 100. */
  pass(owner: string, slotIds: readonly SlotId[], overrides?: Partial<BeginPassRequest>): Promise<BeginPassResult>;
  /** `start` with a long timeout, no runtime cap, backend `b`. */
  start(reservation: Reservation, taskId: string, overrides?: Partial<StartRequest>): ReturnType<SlotStore['start']>;
  /** Reserve `slotId` as `owner` and start `taskId` in it; fails the test if either step does not succeed. */
  run(slotId: SlotId, taskId: string, overrides?: Partial<StartRequest>, owner?: string): Promise<Occupancy>;
  /** `end` with reason `stopped`, `[backend]` deliverable, long retention. */
  end(taskId: string, overrides?: Partial<EndRequest>): ReturnType<SlotStore['end']>;
  /**
   * `startMany`, or where the store has none, `start` of each request in turn, as the scheduler
   * falls back: so a batch case checks on every store what the scheduler gets from it.
   */
  startMany(requests: readonly StartRequest[]): Promise<StartResult[]>;
  /** `endMany`, or where the store has none, `end` of each request in turn. */
  endMany(requests: readonly EndRequest[]): Promise<EndResult[]>;
  /** The slot's state from `inspect()`; fails the test if the store does not list it. */
  slot(slotId: SlotId): Promise<SlotState>;
}

export type CaseBody = (t: ExecutionContext<unknown>, h: Harness) => Promise<void>;

/** A unique scheduler name per test, so that stores that share a server never see each other. */
export function schedulerName(): string {
  return `contract_${randomBytes(5).toString('hex')}`;
}

/**
 * The macro every contract case runs through: a fresh store (built with `options`, when given),
 * the case, then close and cleanup.
 */
export function contractMacro<C>(test: TestFn<C>, options?: StoreCaseOptions): Macro<[StoreFactory, CaseBody], C> {
  return test.macro<[StoreFactory, CaseBody]>({
    async exec(t, factory, body) {
      const name = schedulerName();
      const { store, cleanup } = await (options ? factory.create(name, options) : factory.create(name));
      // Teardown runs even when the body throws or an assertion fails; close is idempotent, so a
      // factory whose cleanup also closes the store is fine.
      t.teardown(async () => {
        try {
          await store.close();
          await store.close(); // idempotent
        } finally {
          await cleanup();
        }
      });
      await body(t as ExecutionContext<unknown>, harness(store, name));
    },
    title: (provided = '', factory) => `${factory.name}: ${provided}`,
  });
}

export type PeersBody = (t: ExecutionContext<unknown>, stores: Harness[]) => Promise<void>;

/**
 * The macro of the cases on several stores sharing one backing: `names` are placeholders (`'a'`,
 * `'b'`), each turned into a unique scheduler name, so `['a', 'a', 'b']` gives two stores of one
 * name and one of another.
 */
export function peersMacro<C>(test: TestFn<C>): Macro<[StoreFactory, readonly string[], PeersBody], C> {
  return test.macro<[StoreFactory, readonly string[], PeersBody]>({
    async exec(t, factory, names, body) {
      must(factory.createPeers, `${factory.name} has no createPeers()`);
      const unique = new Map(names.map((n) => [n, '']));
      for (const n of unique.keys()) unique.set(n, schedulerName());
      const schedulerNames = names.map((n) => unique.get(n)!);
      const { stores, cleanup } = await factory.createPeers(schedulerNames);
      t.teardown(async () => {
        try {
          await Promise.all(stores.map((store) => store.close()));
        } finally {
          await cleanup();
        }
      });
      must(stores.length === names.length, `createPeers returned ${stores.length} stores for ${names.length} names`);
      await body(
        t as ExecutionContext<unknown>,
        stores.map((store, i) => harness(store, schedulerNames[i]!)),
      );
    },
    title: (provided = '', factory) => `${factory.name}: ${provided}`,
  });
}

function harness(store: SlotStore, name: string): Harness {
  const h: Harness = {
    store,
    schedulerName: name,
    init: (slotIds) => store.init(slotIds),
    pass: (owner, slotIds, overrides = {}) =>
      store.beginPass({
        slotIds,
        owner,
        leaseMs: timing.long,
        deliverable: [backend],
        retentionMs: timing.long,
        limit: 100,
        ...overrides,
      }),
    start: (reservation, taskId, overrides) => store.start(startRequest(reservation, taskId, overrides)),
    async run(slotId, taskId, overrides = {}, owner = 'runner') {
      const { reserved } = await h.pass(owner, [slotId]);
      const reservation = reserved.find((r) => r.slotId === slotId);
      must(reservation, `beginPass did not reserve idle slot ${slotId}: ${JSON.stringify(reserved)}`);
      const started = await h.start(reservation, taskId, overrides);
      must(started.ok, `start of ${taskId} in slot ${slotId} failed: ${JSON.stringify(started)}`);
      return started.occupancy;
    },
    end: (taskId, overrides) => store.end(endRequest(taskId, overrides)),
    startMany: (requests) => (store.startMany ? store.startMany(requests) : inTurn(requests, (r) => store.start(r))),
    endMany: (requests) => (store.endMany ? store.endMany(requests) : inTurn(requests, (r) => store.end(r))),
    async slot(slotId) {
      const state = (await store.inspect()).find((s) => s.slotId === slotId);
      must(state, `inspect() does not list slot ${slotId}`);
      return state;
    },
  };
  return h;
}

/** What {@link Harness.start} sends: a long timeout, no runtime cap, backend `b`. */
export function startRequest(reservation: Reservation, taskId: string, overrides: Partial<StartRequest> = {}): StartRequest {
  return {
    slotId: reservation.slotId,
    token: reservation.token,
    taskId,
    backend,
    timeoutMs: timing.long,
    maxRuntimeMs: null,
    ...overrides,
  };
}

/** What {@link Harness.end} sends: reason `stopped`, `[backend]` deliverable. */
export function endRequest(taskId: string, overrides: Partial<EndRequest> = {}): EndRequest {
  return { taskId, reason: 'stopped', deliverable: [backend], ...overrides };
}

/** Runs `call` on each request after the previous one answered; the results in order. */
async function inTurn<T, R>(requests: readonly T[], call: (request: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (const request of requests) results.push(await call(request));
  return results;
}

/** The fields of an occupancy that identify it and that no later operation may change. */
export function identity(o: Occupancy): Pick<Occupancy, 'slotId' | 'token' | 'taskId' | 'backend' | 'owner' | 'startedAt'> {
  return { slotId: o.slotId, token: o.token, taskId: o.taskId, backend: o.backend, owner: o.owner, startedAt: o.startedAt };
}

/** Task ids of ended records, sorted, for order-insensitive comparisons. */
export function endedTaskIds(records: readonly EndedOccupancy[]): string[] {
  return records.map((r) => r.taskId).sort();
}

/**
 * Throws (failing the test with `message`) unless `condition` holds. For preconditions a case
 * cannot go on without; `t.fail` would record the failure but let the case run into a TypeError.
 */
export function must(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/**
 * Checks that a start answered `duplicate` naming the slot of `holder` (the occupancy holding the
 * task id, as last renewed), when that occupancy ends by itself (the earlier of its deadline and
 * max deadline), and the store's clock: one the holder's start had already read.
 */
export function assertDuplicate(t: ExecutionContext<unknown>, result: StartResult, holder: Occupancy, what = 'start'): void {
  const expiresAt = holder.maxDeadline === null ? holder.deadline : Math.min(holder.deadline, holder.maxDeadline);
  t.like(result, { ok: false, reason: 'duplicate', slotId: holder.slotId, expiresAt }, `${what}: ${JSON.stringify(result)}`);
  const now = (result as { now?: unknown }).now;
  t.true(
    typeof now === 'number' && now >= holder.lastKeepaliveAt,
    `${what}: now ${String(now)} is the store clock, not before the holder's last renewal`,
  );
}

/** The successful branch of a store result, or a thrown error that shows the result it got. */
export function ok<R extends { ok: boolean }>(result: R, what: string): Extract<R, { ok: true }> {
  must(result.ok, `${what} did not succeed: ${JSON.stringify(result)}`);
  return result as Extract<R, { ok: true }>;
}
