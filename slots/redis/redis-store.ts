import type { Redis, Cluster } from 'ioredis';
import * as z from 'zod/mini';
import { redisDatabase, redisOption } from '../../src/core/connection-options.js';
import { ConfigError, StoreUnavailableError, redactUrl } from '../../src/core/errors.js';
import { integer, parseOptions, storableText, strictObject } from '../../src/core/option-schema.js';
import { loadPeer } from '../../src/core/peers.js';
import {
  compareSlotIds,
  type AcquireRequest,
  type AcquireResult,
  type BeginPassRequest,
  type BeginPassResult,
  type CancelResult,
  type DeliveryRef,
  type EndReason,
  type EndRequest,
  type EndResult,
  type EndedOccupancy,
  type HistoryRecord,
  type KeepaliveResult,
  type LeaveQueueResult,
  type Lost,
  type NormalizedHistoryQuery,
  type Occupancy,
  type PurgeRefused,
  type PurgeResult,
  type Reservation,
  type SlotId,
  type SlotState,
  type SlotStore,
  type StartRequest,
  type StartResult,
  type NextStart,
  type StoreEvent,
  type TaskRef,
} from '../../src/contracts/store.js';
import { checkTaskId } from '../../src/contracts/task-id.js';
import {
  historyOutcome,
  matchesHistoryQuery,
  newestHistory,
  runningRecord,
  storeHistoryOption,
  type StoreHistoryOptions,
} from '../../src/contracts/history.js';
import { storeDefaults } from '../../src/contracts/store-defaults.js';
import * as lua from './lua.generated.js';
import { storeFailure } from '../store-failure.js';
import { defineScript, runScript, type LuaScript, type ReplicaWait, type ScriptArg } from './run-script.js';
import { RedisSubscription } from './subscription.js';

/** Options of {@link RedisSlotStore}. */
export interface RedisSlotStoreOptions {
  /** Scheduler name: all keys of one name share one hash tag. */
  name: string;
  /** A redis:// URL (the store creates and later closes its client) or an ioredis Redis/Cluster client (never closed by the store). */
  redis: string | Redis | Cluster;
  /** @defaultValue 'task-semaphore' */
  keyPrefix?: string;
  /** Most ended records kept in the outbox; oldest dropped beyond it. @defaultValue 10000 */
  outboxLimit?: number;
  /**
   * Replicas that must have each write before the store answers (Redis `WAIT` after every script
   * that writes): a failover to one of them then loses no write the store acknowledged. A write
   * fewer of them confirm within `waitTimeoutMs` fails as StoreUnavailableError.
   * @defaultValue 0 (no wait: replication stays asynchronous)
   */
  waitReplicas?: number;
  /** How long a write waits for `waitReplicas`, in ms. @defaultValue 1000 */
  waitTimeoutMs?: number;
  /**
   * The history of ended occupancies, a stream trimmed to about `maxEntries` records (at least
   * that many stay; `retentionMs` is for stores that keep it by time), or `false` to write none.
   * @defaultValue `{ maxEntries: 10000 }`
   */
  history?: StoreHistoryOptions;
}

const defaults = Object.freeze({
  keyPrefix: 'task-semaphore',
  outboxLimit: storeDefaults.outboxLimit,
  waitReplicas: 0,
  waitTimeoutMs: 1000,
}) satisfies Required<Pick<RedisSlotStoreOptions, 'keyPrefix' | 'outboxLimit' | 'waitReplicas' | 'waitTimeoutMs'>>;

/** Names and prefixes go inside the keys' hash tag: braces would split it (and the cluster slot). */
const tagPart = /^[^{}]*$/;

const optionsSchema = strictObject(
  {
    name: storableText(/^[^{}]+$/, 'allowed: a non-empty string without "{" or "}"'),
    redis: redisOption(),
    keyPrefix: z._default(storableText(tagPart, 'allowed: a string without "{" or "}"'), defaults.keyPrefix),
    outboxLimit: z._default(integer(1, { allowed: 'allowed: a positive integer' }), defaults.outboxLimit),
    waitReplicas: z._default(integer(0, { allowed: 'allowed: a whole number of replicas, 0 for no wait' }), defaults.waitReplicas),
    waitTimeoutMs: z._default(integer(1, { allowed: 'allowed: a positive number of milliseconds' }), defaults.waitTimeoutMs),
    history: storeHistoryOption(),
  },
  'allowed: an object with name and redis',
);

/** One script per atomic operation; the number is the key count, as in the file names. */
const scripts = {
  beginPass: defineScript('begin-pass-13', lua.beginPass13, 13),
  start: defineScript('start-3', lua.start3, 3),
  release: defineScript('release-7', lua.release7, 7),
  keepalive: defineScript('keepalive-4', lua.keepalive4, 4),
  end: defineScript('end-13', lua.end13, 13),
  acquire: defineScript('acquire-7', lua.acquire7, 7),
  leaveQueue: defineScript('leave-queue-5', lua.leaveQueue5, 5),
  acknowledge: defineScript('acknowledge-2', lua.acknowledge2, 2),
  requestCancel: defineScript('request-cancel-3', lua.requestCancel3, 3),
  inspect: defineScript('inspect-1', lua.inspect1, 1),
  purge: defineScript('purge-13', lua.purge13, 13),
} as const;

/** The first element of every task-script reply (see the Lua headers). */
const Reply = {
  ok: 0,
  unknown: -1,
  timedOut: -3,
  ended: -4,
  duplicate: -5,
  reservationLost: -6,
  queued: -7,
  busy: -8,
} as const;

/** A reply that says why a task operation could not act: `{code, slotId?, token?, endReason?}`. */
type LostReply = [code: number, slotId?: string, token?: number, endReason?: EndReason];

/** A slot record as stored in the slots hash (JSON written by the scripts and by `init`). */
interface SlotRecord {
  status: SlotState['status'];
  token: number;
  owner: string | null;
  leaseUntil: number | null;
  occupancy: Occupancy | null;
  /** For the history (absent in records of an older release): see start-3.lua. */
  reservedAt?: number | null;
  keepalives?: number;
}

/** How `init` writes a slot that does not exist yet; the scripts treat a missing record the same way. */
const idleRecord = JSON.stringify({
  status: 'idle',
  token: 0,
  owner: null,
  leaseUntil: null,
  occupancy: null,
} satisfies SlotRecord);

/**
 * Client settings for a store-owned client. It reconnects forever, at most a second apart, so a
 * restarted Redis is back in use within a second; meanwhile a command fails after three attempts
 * to reconnect rather than hang, so a pass during an outage fails fast and the next tick tries
 * again. The subscriber, a duplicate, inherits them.
 */
// No auto-pipelining: it holds replies until a whole tick's batch has answered, so Node and Redis
// take turns instead of working at once (measured: drain ×1.77 without it, bench/RESULTS.md).
const ownedClientOptions = {
  maxRetriesPerRequest: 3,
  retryStrategy: (attempt: number) => Math.min(attempt * 50, 1000),
  connectTimeout: 5000,
  lazyConnect: true,
} as const;

/**
 * Slot state in Redis, for schedulers in many processes. Every state change is one Lua script
 * (one EVALSHA round trip) timed by Redis `TIME`, never by a client clock, so clock skew between
 * processes cannot make two of them disagree on whether a lease or deadline has passed.
 *
 * All keys of one scheduler name live under the hash tag `{keyPrefix:name}`, so the store works
 * unchanged on Redis Cluster:
 * - `…:slots` hash slotId → slot record JSON; `…:tasks` hash taskId → slotId (running task ids);
 * - `…:expiry` zset slotId → when the slot's reservation or occupancy lapses (reaping reads a range);
 * - `…:token` fencing-token counter; `…:outbox` list of ended records awaiting a deliverer;
 * - `…:ended` hash taskId → tombstone JSON and `…:ended-at` zset taskId → endedAt (for pruning);
 * - `…:deliveries` hash `<token>:<taskId>` → the ended record and its lease owner, and
 *   `…:delivery-due` zset of the same fields → when the lease lapses: the delivery log;
 * - `…:history` stream of one entry per ended occupancy, trimmed to about `history.maxEntries`
 *   (see lua/includes/end-occupancy.lua);
 * - the acquire queue (see lua/includes/waiters.lua): `…:queue` zset taskId → arrival,
 *   `…:queue-due` zset taskId → when its entry lapses, `…:waiters` hash taskId → its request.
 *
 * It answers as `MemorySlotStore` does for the same calls, with two bounded-work differences:
 * reaping takes the slots that lapsed first (so `ended` lists reaped records in lapse order, not
 * slot order), and a pass prunes at most `limit` tombstones.
 */
export class RedisSlotStore implements SlotStore {
  readonly kind = 'redis';
  /** A script's work is small beside its round trip: two refill rounds at once keep both sides busy. */
  readonly batchLanes = 2;
  private readonly url: string;
  /** Whether the store created the client, and so must close it and may reconnect it. */
  private readonly owned: boolean;
  private client: Redis | Cluster;
  private readonly outboxLimit: number;
  /** The WAIT after each writing script, or none. */
  private readonly wait: ReplicaWait | undefined;
  private readonly keys: Readonly<
    Record<
      | 'slots'
      | 'tasks'
      | 'ended'
      | 'expiry'
      | 'endedAt'
      | 'outbox'
      | 'token'
      | 'deliveries'
      | 'deliveryDue'
      | 'history'
      | 'queue'
      | 'queueDue'
      | 'waiters',
      string
    >
  >;
  /** About how many entries the history stream keeps; 0 with the history off. */
  private readonly historyMax: number;
  /** The KEYS of the scripts that end occupancies (begin-pass-13, end-13) and of purge-13, in their order. */
  private readonly endKeys: readonly string[];
  /** The KEYS of the scripts that give slots to waiters without ending any (release-7, acquire-7), in their order. */
  private readonly grantKeys: readonly string[];
  /** The last 'error' event of an owned client: a failed connect() only says "Connection is closed". */
  private lastError: Error | undefined;
  private closing: Promise<void> | undefined;
  /** Pub/sub channel of the scheduler name's events (freed slots, cancels, grants). */
  private readonly channel: string;
  private readonly subscriptions = new Set<RedisSubscription>();

  /**
   * @throws {ConfigError} when an option is missing, malformed or unknown.
   * @throws {MissingPeerError} for a URL when `ioredis` is not installed.
   */
  constructor(options: RedisSlotStoreOptions) {
    const { name, redis, keyPrefix, outboxLimit, waitReplicas, waitTimeoutMs, history } = parseOptions(optionsSchema, options);
    this.historyMax = history === false ? 0 : history.maxEntries;
    this.wait = waitReplicas > 0 ? { replicas: waitReplicas, timeoutMs: waitTimeoutMs } : undefined;
    if (typeof redis === 'string') {
      this.url = redis;
      this.owned = true;
      this.client = this.createClient();
    } else {
      // Checked by shape: an ioredis Redis or Cluster client.
      this.client = redis as Redis | Cluster;
      this.url = describeClient(this.client);
      this.owned = false;
    }
    this.outboxLimit = outboxLimit;
    const ns = `{${keyPrefix}:${name}}`;
    this.keys = Object.freeze({
      slots: `${ns}:slots`,
      tasks: `${ns}:tasks`,
      ended: `${ns}:ended`,
      expiry: `${ns}:expiry`,
      endedAt: `${ns}:ended-at`,
      outbox: `${ns}:outbox`,
      token: `${ns}:token`,
      deliveries: `${ns}:deliveries`,
      deliveryDue: `${ns}:delivery-due`,
      history: `${ns}:history`,
      queue: `${ns}:queue`,
      queueDue: `${ns}:queue-due`,
      waiters: `${ns}:waiters`,
    });
    const k = this.keys;
    this.endKeys = Object.freeze([
      k.slots,
      k.tasks,
      k.ended,
      k.expiry,
      k.endedAt,
      k.outbox,
      k.token,
      k.deliveries,
      k.deliveryDue,
      k.history,
      k.queue,
      k.queueDue,
      k.waiters,
    ]);
    this.grantKeys = Object.freeze([k.slots, k.tasks, k.expiry, k.token, k.queue, k.queueDue, k.waiters]);
    this.channel = `${ns}:events`;
  }

  /**
   * Connects (a store-owned client), checks the server answers, and creates missing slots as idle.
   * @throws {StoreUnavailableError} when Redis cannot be reached; the message never shows a password.
   */
  async init(slotIds: readonly SlotId[]): Promise<void> {
    if (this.owned && this.client.status === 'end') {
      // Closed earlier: open again with a fresh client, which a later close() closes in turn.
      this.client = this.createClient();
      this.closing = undefined;
    }
    const client = this.client;
    this.lastError = undefined;
    try {
      if (this.owned && client.status === 'wait') await client.connect();
      await client.ping();
    } catch (error) {
      if (this.owned) {
        // Stop the reconnect loop; the next init() starts over with a fresh client.
        client.disconnect();
        this.client = this.createClient();
      }
      throw new StoreUnavailableError('Redis', this.url, this.lastError ?? error);
    }
    if (this.owned) await this.checkDatabase(client);
    // HSETNX never touches an existing slot, so init is idempotent and safe while others run.
    await Promise.all(slotIds.map((slotId) => client.hsetnx(this.keys.slots, slotId, idleRecord)));
  }

  async beginPass(request: BeginPassRequest): Promise<BeginPassResult> {
    const [now, expiredReservations, endedJson, reservedFlat, runningJson] = await this.run<
      [number, number, string[], (string | number)[], string[]]
    >(scripts.beginPass, this.endKeys, [
      JSON.stringify(request.slotIds),
      request.owner,
      request.leaseMs,
      JSON.stringify(request.deliverable),
      request.retentionMs,
      request.limit,
      this.outboxLimit,
      request.maxReserve ?? -1,
      this.channel,
      request.deliveryLeaseMs ?? -1,
      this.historyMax,
      request.notify === true ? '1' : '0',
    ]);
    const reserved: Reservation[] = [];
    for (let i = 0; i + 1 < reservedFlat.length; i += 2) {
      reserved.push({ slotId: String(reservedFlat[i]), token: Number(reservedFlat[i + 1]) });
    }
    return {
      now: Number(now),
      ended: endedJson.map(parseEnded),
      expiredReservations: Number(expiredReservations),
      reserved,
      running: runningJson.map(parseOccupancy),
    };
  }

  async start(request: StartRequest): Promise<StartResult> {
    return (await this.startMany([request]))[0]!;
  }

  /** All the starts in one run of start-3.lua, which acts on them in order. */
  async startMany(requests: readonly StartRequest[]): Promise<StartResult[]> {
    if (requests.length === 0) return []; // nothing to do is not worth a round trip
    // Refused here, before the round trip: Redis would store a lone surrogate as U+FFFD.
    for (const r of requests) checkTaskId(r.taskId);
    const { slots, tasks, expiry } = this.keys;
    const args = requests.flatMap((r) => [
      r.slotId,
      r.token,
      r.taskId,
      r.backend,
      r.timeoutMs,
      r.maxRuntimeMs ?? '',
      r.processLease === true ? '1' : '0',
    ]);
    const replies = await this.run<StartReply[]>(scripts.start, [slots, tasks, expiry], args);
    return replies.map(toStartResult);
  }

  async release(reservations: readonly Reservation[]): Promise<void> {
    if (reservations.length === 0) return; // nothing to do is not worth a round trip
    const args = reservations.flatMap(({ slotId, token }) => [slotId, token]);
    await this.run<number>(scripts.release, this.grantKeys, [this.channel, ...args]);
  }

  async keepalive(ref: TaskRef): Promise<KeepaliveResult> {
    checkTaskId(ref.taskId);
    const { slots, tasks, ended, expiry } = this.keys;
    const reply = await this.run<[number, ...unknown[]]>(scripts.keepalive, [slots, tasks, ended, expiry], taskArgs(ref));
    if (reply[0] !== Reply.ok) return toLost(reply as LostReply);
    return { ok: true, occupancy: parseOccupancy(reply[1] as string) };
  }

  async end(request: EndRequest): Promise<EndResult> {
    return (await this.endMany([request]))[0]!;
  }

  /** All the ends in one run of end-13.lua, which acts on them in order. */
  async endMany(requests: readonly EndRequest[]): Promise<EndResult[]> {
    if (requests.length === 0) return []; // nothing to do is not worth a round trip
    for (const r of requests) {
      checkTaskId(r.taskId);
      if (r.next) checkTaskId(r.next.taskId);
    }
    // One JSON argument keeps null apart from '' for status and error.
    const payload = JSON.stringify(
      requests.map((r) => ({
        taskId: r.taskId,
        token: r.token,
        reason: r.reason,
        status: r.status ?? null,
        error: r.error ?? null,
        deliverable: r.deliverable,
        notify: r.notify === true,
        reserve: r.reserve ? { owner: r.reserve.owner, leaseMs: r.reserve.leaseMs } : null,
        delivery: r.delivery ? { owner: r.delivery.owner, leaseMs: r.delivery.leaseMs } : null,
        acknowledge: r.acknowledge?.map(deliveryField),
        next: r.next && r.reserve ? nextStart(r.next) : undefined,
      })),
    );
    const replies = await this.run<[number, ...unknown[]][]>(scripts.end, this.endKeys, [
      payload,
      this.outboxLimit,
      this.channel,
      this.historyMax,
      // The longest retention asked for: no end goes sooner than any request wants.
      Math.max(-1, ...requests.map((r) => r.retentionMs ?? -1)),
    ]);
    return replies.map(toEndResult);
  }

  /** Takes a slot or waits for one, in one run of acquire-7.lua. */
  async acquire(request: AcquireRequest): Promise<AcquireResult> {
    // Refused here, before the round trip, as every method given a task id does.
    checkTaskId(request.taskId);
    const args: ScriptArg[] = [
      request.taskId,
      request.owner,
      request.backend,
      request.processLease === true ? '1' : '0',
      request.wait ? request.wait.leaseMs : '',
      this.channel,
    ];
    for (const slot of request.slots) args.push(slot.slotId, slot.timeoutMs, slot.maxRuntimeMs ?? '');
    const reply = await this.run<AcquireReply>(scripts.acquire, this.grantKeys, args);
    return toAcquireResult(reply);
  }

  /** Removes the owner's waiter entry of the task id, in one run of leave-queue-5.lua. */
  async leaveQueue(request: { taskId: string; owner: string }): Promise<LeaveQueueResult> {
    checkTaskId(request.taskId);
    const { slots, tasks, queue, queueDue, waiters } = this.keys;
    const reply = await this.run<[number, string?]>(
      scripts.leaveQueue,
      [slots, tasks, queue, queueDue, waiters],
      [request.taskId, request.owner],
    );
    if (reply[0] === 1) return { left: true };
    return { left: false, occupancy: reply[1] === undefined ? null : parseOccupancy(reply[1]) };
  }

  /** Removes delivered records from the delivery log, in one run of acknowledge-2.lua. */
  async acknowledge(refs: readonly DeliveryRef[]): Promise<void> {
    if (refs.length === 0) return; // nothing to do is not worth a round trip
    await this.run<number>(scripts.acknowledge, [this.keys.deliveries, this.keys.deliveryDue], refs.map(deliveryField));
  }

  async requestCancel(ref: TaskRef): Promise<CancelResult> {
    checkTaskId(ref.taskId);
    const { slots, tasks, ended } = this.keys;
    const reply = await this.run<[number, ...unknown[]]>(scripts.requestCancel, [slots, tasks, ended], [...taskArgs(ref), this.channel]);
    if (reply[0] !== Reply.ok) return toLost(reply as LostReply);
    return { ok: true, occupancy: parseOccupancy(reply[1] as string), alreadyRequested: reply[2] === 1 };
  }

  async inspect(): Promise<SlotState[]> {
    const [now, flat] = await this.run<[number, string[]]>(scripts.inspect, [this.keys.slots], []);
    const states: SlotState[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const slotId = flat[i]!;
      const record = JSON.parse(flat[i + 1]!) as Partial<SlotRecord>;
      const occupancy = record.status === 'running' && record.occupancy ? toOccupancy(record.occupancy) : null;
      states.push({
        slotId,
        status: record.status ?? 'idle',
        token: Number(record.token ?? 0),
        owner: record.owner ?? null,
        leaseUntil: record.leaseUntil ?? null,
        occupancy,
        overdue: occupancy !== null && isOverdue(occupancy, Number(now)),
      });
    }
    return states.sort((a, b) => compareSlotIds(a.slotId, b.slotId));
  }

  /**
   * Reads the running occupancies from the slots hash, then the history stream newest entry first
   * (pages of {@link historyPage}), and filters both here: the stream is capped, so a query reads
   * at most about `maxEntries` entries. Two reads, not one atomic step: an occupancy that ends in
   * between is found in both, and its ended record wins.
   */
  async history(query: NormalizedHistoryQuery): Promise<HistoryRecord[]> {
    const matching: HistoryRecord[] = [];
    try {
      for (const raw of await this.client.hvals(this.keys.slots)) {
        const record = JSON.parse(raw) as SlotRecord;
        if (record.status !== 'running' || !record.occupancy) continue;
        const running = runningRecord(toOccupancy(record.occupancy), record.reservedAt ?? null, Number(record.keepalives ?? 0));
        if (matchesHistoryQuery(running, query)) matching.push(running);
      }
      let end = '+';
      for (;;) {
        const page = await this.client.xrevrange(this.keys.history, end, '-', 'COUNT', historyPage);
        for (const [, fields] of page) {
          const record = toHistoryRecord(fields);
          if (record && matchesHistoryQuery(record, query)) matching.push(record);
        }
        if (page.length < historyPage) break;
        end = `(${page[page.length - 1]![0]}`; // exclusive: the page's oldest entry was read
      }
    } catch (error) {
      throw storeFailure('Redis', this.url, 'history', error);
    }
    return newestHistory([matching], query.limit);
  }

  /** The history stream's length (`XLEN`, O(1)); it may exceed `maxEntries` a little, as it is trimmed approximately. */
  async historySize(limit: number): Promise<number> {
    try {
      return Math.min(await this.client.xlen(this.keys.history), limit);
    } catch (error) {
      throw storeFailure('Redis', this.url, 'history-size', error);
    }
  }

  /** Removes the name's keys in one run of purge-13.lua, or says what holds its slots. */
  async purge(options: { force: boolean }): Promise<PurgeResult> {
    const reply = await this.run<[number, ...unknown[]]>(scripts.purge, this.endKeys, [options.force ? '1' : '0']);
    if (reply[0] === 1) {
      const flat = reply[2] as (string | number)[];
      const dropped: TaskRef[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) dropped.push({ taskId: String(flat[i]), token: Number(flat[i + 1]) });
      return { purged: true, slots: Number(reply[1]), dropped };
    }
    const [busy, held] = reply.slice(1) as [(string | number)[], string[]];
    const running: PurgeRefused['running'] = [];
    for (let i = 0; i + 3 < busy.length; i += 4) {
      running.push({ taskId: String(busy[i]), token: Number(busy[i + 1]), slotId: String(busy[i + 2]), owner: String(busy[i + 3]) });
    }
    const reserved: PurgeRefused['reserved'] = [];
    for (let i = 0; i + 1 < held.length; i += 2) reserved.push({ slotId: held[i]!, owner: held[i + 1]! });
    return { purged: false, running, reserved };
  }

  /** Quits a store-owned client (gracefully, else by force); a caller's client is left open. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /**
   * Listens on the scheduler name's channel with a connection of its own (a duplicate of the
   * client, closed by the returned function or by close()), which subscribes again after each
   * reconnect (see RedisSubscription).
   */
  async subscribe(listener: (event: StoreEvent) => void): Promise<() => Promise<void>> {
    const subscription = new RedisSubscription(this.client, this.channel, (message) => {
      try {
        listener(JSON.parse(message) as StoreEvent);
      } catch {
        // Not ours, or malformed: events are hints, never trusted for state.
      }
    });
    // Counted from now: a close() while the first SUBSCRIBE is on its way closes it too.
    this.subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      this.subscriptions.delete(subscription);
      throw error;
    }
    return async () => {
      this.subscriptions.delete(subscription);
      subscription.stop();
    };
  }

  listening(): boolean {
    return [...this.subscriptions].every((subscription) => subscription.listening);
  }

  private async shutdown(): Promise<void> {
    for (const subscription of this.subscriptions) subscription.stop();
    this.subscriptions.clear();
    if (!this.owned) return;
    const client = this.client;
    if (client.status === 'ready') {
      try {
        await client.quit();
        return;
      } catch {
        // Fall through: the connection is going away either way.
      }
    }
    client.disconnect();
  }

  /**
   * ioredis selects the URL's database on connect, but when the server lacks it, it only emits an
   * 'error' and goes on in database 0: select again, and refuse to run there.
   */
  private async checkDatabase(client: Redis | Cluster): Promise<void> {
    const db = redisDatabase(this.url);
    if (db === 0) return;
    try {
      await (client as Redis).select(db);
    } catch (error) {
      client.disconnect();
      this.client = this.createClient();
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConfigError(
        'redis',
        redactUrl(this.url),
        `database ${db} does not exist on this server (${reason}); allowed: an index below its \`databases\` setting (16 by default)`,
      );
    }
  }

  private createClient(): Redis {
    const { Redis } = loadPeer('ioredis', 'RedisSlot');
    const client = new Redis(this.url, ownedClientOptions);
    // Without a listener, a dead server would crash the process with an unhandled 'error' event;
    // commands still reject on their own, and init() reports the last error as the cause.
    client.on('error', (error: Error) => {
      this.lastError = error;
    });
    return client;
  }

  /**
   * Runs one of the store's scripts, and waits for the replicas after one that writes; a failure
   * reaches the caller explained (see storeFailure).
   */
  private async run<T>(script: LuaScript, keys: readonly string[], args: readonly ScriptArg[]): Promise<T> {
    try {
      return await runScript<T>(this.client, script, keys, args, script === scripts.inspect ? undefined : this.wait);
    } catch (error) {
      throw storeFailure('Redis', this.url, script.name, error);
    }
  }
}

/** A password-free label of a caller's client for error messages. */
function describeClient(client: Redis | Cluster): string {
  if (client.isCluster) return 'redis-cluster://';
  const { host, port, db, path } = (client as Redis).options;
  return path ? `redis+unix://${path}` : `redis://${host ?? 'localhost'}:${port ?? 6379}/${db ?? 0}`;
}

/** A record's field in the delivery log, as includes/lease-delivery.lua writes it: a token holds no colon, a task id may. */
function deliveryField(ref: DeliveryRef): string {
  return `${ref.token}:${ref.taskId}`;
}

function taskArgs(ref: TaskRef): ScriptArg[] {
  return [ref.taskId, ref.token ?? ''];
}

/**
 * A reply of acquire-7.lua: `{0, occupancy}`, `{-5, holder or null, expiresAt, now}`,
 * `{-7, position, now}` or `{-8, now}`.
 */
type AcquireReply = [code: number, ...rest: (string | number | null)[]];

function toAcquireResult([code, ...rest]: AcquireReply): AcquireResult {
  switch (code) {
    case Reply.ok:
      return { ok: true, occupancy: parseOccupancy(String(rest[0])) };
    case Reply.duplicate:
      return {
        ok: false,
        reason: 'duplicate',
        slotId: rest[0] === null ? null : String(rest[0]),
        expiresAt: Number(rest[1]),
        now: Number(rest[2]),
      };
    case Reply.queued:
      return { ok: false, reason: 'queued', position: Number(rest[0]), now: Number(rest[1]) };
    default:
      return { ok: false, reason: 'busy', now: Number(rest[0]) };
  }
}

/** A reply of start-3.lua: `{0, occupancy}`, `{-5, holder, expiresAt, now}` or `{-6}`. */
type StartReply = [code: number, occupancyOrHolder?: string, expiresAt?: number, now?: number];

function toStartResult(reply: StartReply): StartResult {
  if (reply[0] === Reply.ok) return { ok: true, occupancy: parseOccupancy(reply[1]!) };
  if (reply[0] === Reply.duplicate) {
    return { ok: false, reason: 'duplicate', slotId: reply[1]!, expiresAt: Number(reply[2]), now: Number(reply[3]) };
  }
  return { ok: false, reason: 'reservation_lost' };
}

function toEndResult(reply: [number, ...unknown[]]): EndResult {
  if (reply[0] !== Reply.ok) return toLost(reply as LostReply);
  const ended = parseEnded(reply[1] as string);
  const delivered = reply[2] === 1;
  // A fourth element is the token of the slot kept for the caller, a fifth how the next task started there (end-13.lua).
  if (reply[3] === undefined) return { ok: true, ended, delivered };
  const reserved = { slotId: ended.slotId, token: Number(reply[3]) };
  if (reply[4] === undefined) return { ok: true, ended, delivered, reserved };
  return { ok: true, ended, delivered, reserved, next: toStartResult(reply[4] as StartReply) };
}

/** The `next` of an end request as end-13.lua reads it. */
function nextStart(next: NextStart): Record<string, unknown> {
  return {
    taskId: next.taskId,
    backend: next.backend,
    timeoutMs: next.timeoutMs,
    maxRuntimeMs: next.maxRuntimeMs,
    processLease: next.processLease === true,
  };
}

function toLost([code, slotId, token, endReason]: LostReply): Lost {
  switch (code) {
    case Reply.timedOut:
    case Reply.ended:
      return {
        ok: false,
        reason: code === Reply.timedOut ? 'timed_out' : 'ended',
        slotId: String(slotId),
        token: Number(token),
        endReason: endReason!,
      };
    default:
      return { ok: false, reason: 'unknown' };
  }
}

/** How many history entries one XREVRANGE reads. */
const historyPage = 1000;

/** A history stream entry (see lua/includes/end-occupancy.lua) as a record; null for one it cannot read. */
function toHistoryRecord(flat: string[]): HistoryRecord | null {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
  const json = fields.get('o');
  if (json === undefined) return null;
  const ended = parseEnded(json);
  const reservedAt = fields.get('r');
  return {
    ...runningRecord(ended, reservedAt ? Number(reservedAt) : null, Number(fields.get('k') ?? 0)),
    endedAt: ended.endedAt,
    outcome: historyOutcome(ended.reason, ended.status, ended.error, fields.get('l') === '1'),
    reason: ended.reason,
    status: ended.status,
    error: ended.error,
  };
}

function parseOccupancy(json: string): Occupancy {
  return toOccupancy(JSON.parse(json) as Occupancy);
}

function parseEnded(json: string): EndedOccupancy {
  const raw = JSON.parse(json) as EndedOccupancy;
  const ended = toOccupancy(raw) as EndedOccupancy;
  ended.reason = raw.reason;
  ended.endedAt = Number(raw.endedAt);
  ended.status = raw.status ?? null;
  ended.error = raw.error ?? null;
  if (raw.redelivered === true) ended.redelivered = true;
  return ended;
}

/** Rebuilds an occupancy field by field, so that results have exactly the memory store's shape. */
function toOccupancy(raw: Occupancy): Occupancy {
  return {
    slotId: String(raw.slotId),
    token: Number(raw.token),
    taskId: String(raw.taskId),
    backend: String(raw.backend),
    owner: String(raw.owner),
    startedAt: Number(raw.startedAt),
    lastKeepaliveAt: Number(raw.lastKeepaliveAt),
    deadline: Number(raw.deadline),
    maxDeadline: raw.maxDeadline == null ? null : Number(raw.maxDeadline),
    timeoutMs: Number(raw.timeoutMs),
    maxRuntimeMs: raw.maxRuntimeMs == null ? null : Number(raw.maxRuntimeMs),
    cancelRequested: raw.cancelRequested === true,
  };
}

/** The Lua scripts' expiry test: a deadline has passed when the clock reads it or later. */
function isOverdue(occupancy: Occupancy, now: number): boolean {
  return (occupancy.maxDeadline !== null && occupancy.maxDeadline <= now) || occupancy.deadline <= now;
}
