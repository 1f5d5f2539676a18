/**
 * A Redis Cluster of the test's own: 3 masters and 3 replicas, each a redis-server without
 * persistence on free loopback ports, created with `redis-cli --cluster create`. A test can fail
 * over the master of a key's hash slot by hand (CLUSTER FAILOVER on its replica) or kill it
 * (SIGKILL; its replica is promoted once the others judge it failed). Every process started here is
 * stopped by its pid at teardown, and every directory removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { exited, portIsFree, runCommand, until, type Teardown } from './own-servers.js';

const host = '127.0.0.1';

/**
 * How long a silent node takes to be judged failed. Short, so that a killed master is replaced
 * within a few seconds (failure detection, then the replica's election delay of 0.5-1 s); long
 * enough that a loaded 2-core machine does not fail a busy node by mistake.
 */
export const clusterNodeTimeoutMs = 1500;

/** One redis-server of the cluster. */
interface ClusterServer {
  port: number;
  dir: string;
  process: ChildProcess;
}

/** Who serves a key now: its hash slot, that slot's master and the master's replica. */
export interface Shard {
  slot: number;
  /** The master's port. */
  master: number;
  /** Its replica's port. */
  replica: number;
}

export interface OwnCluster {
  /** Every node the cluster started with, as ioredis' `new Cluster(startupNodes)` takes them. */
  readonly startupNodes: ReadonlyArray<{ host: string; port: number }>;
  /** The pids of the nodes running now. */
  pids(): number[];
  /** The hash slot of `key` and who serves it, as the cluster sees it now. */
  shardOf(key: string): Promise<Shard>;
  /** Waits until `key`'s replica has every write its master has (their replication offsets match). */
  replicated(key: string): Promise<void>;
  /**
   * Cuts the replication link of `key`'s replica, which keeps failing to reconnect (a wrong
   * `masterauth`), while the cluster bus still sees every node: from now on its master's writes
   * stay on the master, as when a replica lags. Resolves once the master has no replica attached.
   */
  cutReplication(key: string): Promise<void>;
  /**
   * A manual failover of `key`'s master: CLUSTER FAILOVER on its replica, which first catches up
   * with the master (so no acknowledged write is lost), then takes over. Resolves once every node
   * agrees on the new master and the old one replicates it.
   */
  failover(key: string): Promise<{ from: number; to: number }>;
  /**
   * SIGKILL of `key`'s master. Resolves once its replica is promoted, every live node agrees on it
   * and the cluster answers again. Writes the master acknowledged but had not yet sent to its
   * replica are lost: replication is asynchronous.
   */
  killMaster(key: string): Promise<{ killed: number; promoted: number }>;
  /**
   * A fresh, empty node for each master left without a replica by `killMaster`, joined as its
   * replica and in sync, so that a later failover or kill finds one.
   */
  replaceKilled(): Promise<void>;
}

/** A line of CLUSTER NODES, as one node sees another. */
interface NodeView {
  id: string;
  port: number;
  flags: string[];
  /** For a replica, its master's id. */
  masterId: string | null;
  /** Slot ranges, inclusive. */
  ranges: Array<[number, number]>;
}

function parseNodes(text: string): NodeView[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.split(' ');
      const ranges: Array<[number, number]> = [];
      for (const slot of slots) {
        if (slot.startsWith('[')) continue; // a slot being migrated: none here
        const [from, to] = slot.split('-').map(Number);
        ranges.push([from!, to ?? from!]);
      }
      return {
        id: id!,
        port: Number(address!.split('@')[0]!.split(':')[1]),
        flags: flags!.split(','),
        masterId: masterId === '-' ? null : masterId!,
        ranges,
      };
    });
}

/** A short-lived admin connection that never retries: a dead node fails the call at once. */
async function withNode<T>(port: number, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

const clusterNodes = (port: number) => withNode(port, async (c) => parseNodes(String(await c.call('CLUSTER', 'NODES'))));
const clusterOk = (port: number) => withNode(port, async (c) => String(await c.call('CLUSTER', 'INFO')).includes('cluster_state:ok'));

/** A port whose cluster bus port (port + 10000) is free too. */
async function freeNodePort(taken: ReadonlySet<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (!taken.has(port) && (await portIsFree(port)) && (await portIsFree(port + 10_000))) return port;
  }
}

/** Starts the 6 nodes, creates the cluster, and waits until every node says it is ok. */
export async function ownCluster(t: Teardown): Promise<OwnCluster> {
  const servers = new Map<number, ClusterServer>();
  /** Masters promoted by a kill, whose shard has no replica yet. */
  const orphans: number[] = [];
  const dirs: string[] = [];
  t.teardown(async () => {
    for (const server of servers.values()) server.process.kill('SIGKILL');
    await Promise.all([...servers.values()].map((server) => exited(server.process)));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  // A port found free may be taken before the node binds it (other suites start servers too): the
  // node then exits at once. Try another port.
  const startNode = async (attempt = 1): Promise<number> => {
    const port = await freeNodePort(new Set(servers.keys()));
    const dir = mkdtempSync(join(tmpdir(), 'ts-cluster-'));
    dirs.push(dir);
    // prettier-ignore
    const args = [
      '--port', String(port), '--bind', host, '--dir', dir, '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
      '--cluster-node-timeout', String(clusterNodeTimeoutMs),
      // A replica stands in however long its link was down, and never moves to another master.
      '--cluster-replica-validity-factor', '0', '--cluster-allow-replica-migration', 'no',
    ];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    servers.set(port, { port, dir, process: child });
    try {
      await until(() => withNode(port, async (c) => (await c.ping()) === 'PONG'), `cluster node on port ${port}`, 10_000);
    } catch (error) {
      if (child.exitCode === null || attempt === 3) throw error;
      servers.delete(port);
      return startNode(attempt + 1);
    }
    return port;
  };
  const live = () => [...servers.keys()];
  /** Every live node knows every other, none flagged failed or in handshake, and the cluster is ok. */
  const settled = async (check: (views: NodeView[][]) => boolean = () => true) => {
    const views = await Promise.all(live().map(clusterNodes));
    const healthy = views.every(
      (view) => view.length === servers.size && view.every((node) => !node.flags.some((flag) => /fail|handshake|noaddr/.test(flag))),
    );
    return healthy && (await Promise.all(live().map(clusterOk))).every(Boolean) && check(views);
  };

  const ports = await Promise.all(Array.from({ length: 6 }, () => startNode()));
  await runCommand('redis-cli', [
    '--cluster',
    'create',
    ...ports.map((port) => `${host}:${port}`),
    '--cluster-replicas',
    '1',
    '--cluster-yes',
  ]);
  // Every replica in sync too, so that a write can be confirmed by its replica (WAIT) from the start.
  const linked = (port: number) =>
    withNode(
      port,
      async (c) => !/role:slave/.test(await c.info('replication')) || /master_link_status:up/.test(await c.info('replication')),
    );
  await until(
    async () => (await settled()) && (await Promise.all(live().map(linked))).every(Boolean),
    'the new cluster to be ok on every node',
    30_000,
  );

  const shardOf = async (key: string): Promise<Shard> => {
    const port = live()[0]!;
    const slot = Number(await withNode(port, (c) => c.call('CLUSTER', 'KEYSLOT', key)));
    const view = await clusterNodes(port);
    const master = view.find((node) => node.flags.includes('master') && node.ranges.some(([from, to]) => from <= slot && slot <= to));
    const replica = master && view.find((node) => node.masterId === master.id && !node.flags.includes('fail'));
    if (!master || !replica) throw new Error(`no master with a replica serves slot ${slot}: ${JSON.stringify(view)}`);
    return { slot, master: master.port, replica: replica.port };
  };
  /** Every live node sees `port` as the master of `slot`. */
  const mastersAgree = (slot: number, port: number) => (views: NodeView[][]) =>
    views.every((view) =>
      view.some((node) => node.port === port && node.flags.includes('master') && node.ranges.some(([a, b]) => a <= slot && slot <= b)),
    );

  return {
    startupNodes: ports.map((port) => ({ host, port })),
    pids: () => [...servers.values()].map((server) => server.process.pid!),
    shardOf,
    async replicated(key) {
      const { master, replica } = await shardOf(key);
      const offset = (port: number, field: string) =>
        withNode(port, async (c) => Number(new RegExp(`${field}:(\\d+)`).exec(await c.info('replication'))?.[1] ?? -1));
      const caughtUp = async () => (await offset(replica, 'slave_repl_offset')) >= (await offset(master, 'master_repl_offset'));
      await until(caughtUp, `port ${replica} to catch up with port ${master}`, 10_000);
    },
    async cutReplication(key) {
      const { master, replica } = await shardOf(key);
      await withNode(replica, (c) => c.config('SET', 'masterauth', 'not-the-password'));
      await withNode(master, (c) => c.call('CLIENT', 'KILL', 'TYPE', 'replica'));
      const detached = () => withNode(master, async (c) => String(await c.info('replication')).includes('connected_slaves:0'));
      await until(detached, `port ${master} to lose its replica`, 10_000);
    },
    async failover(key) {
      const { slot, master, replica } = await shardOf(key);
      const demoted = (views: NodeView[][]) =>
        views.every((view) => view.some((node) => node.port === master && node.flags.includes('slave')));
      const done = () => settled((views) => mastersAgree(slot, replica)(views) && demoted(views));
      const isReplica = () => withNode(replica, async (c) => ((await c.call('ROLE')) as unknown[])[0] === 'slave');
      // Redis drops a manual failover that does not complete within 5 s (a replica slow to catch
      // up on a loaded machine) without a word: ask again until one completes.
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (await isReplica()) await withNode(replica, (c) => c.call('CLUSTER', 'FAILOVER'));
        try {
          await until(done, `failover of slot ${slot} to port ${replica}`, Math.max(0, Math.min(7000, deadline - Date.now())));
          return { from: master, to: replica };
        } catch (error) {
          if (Date.now() >= deadline) throw error;
        }
      }
    },
    async killMaster(key) {
      const { slot, master, replica } = await shardOf(key);
      const server = servers.get(master)!;
      const deadId = (await clusterNodes(master)).find((node) => node.flags.includes('myself'))!.id;
      server.process.kill('SIGKILL');
      await exited(server.process);
      servers.delete(master);
      // Promotion first (the others must judge the dead node failed), then forget it everywhere.
      const promoted = async () => {
        const views = await Promise.all(live().map(clusterNodes));
        return mastersAgree(slot, replica)(views) && (await Promise.all(live().map(clusterOk))).every(Boolean);
      };
      await until(promoted, `promotion of port ${replica} after the kill of master ${master}`, 30_000);
      await Promise.all(live().map((port) => withNode(port, (c) => c.call('CLUSTER', 'FORGET', deadId))));
      orphans.push(replica);
      return { killed: master, promoted: replica };
    },
    async replaceKilled() {
      for (const master of orphans.splice(0)) {
        // A fresh node rather than the killed one restarted: that one would come back still
        // claiming its old slots, and could take writes until the cluster told it otherwise.
        const port = await startNode();
        const masterId = (await clusterNodes(master)).find((node) => node.flags.includes('myself'))!.id;
        await withNode(port, (c) => c.call('CLUSTER', 'MEET', host, String(master)));
        const met = async () => (await clusterNodes(port)).some((node) => node.id === masterId && !node.flags.includes('handshake'));
        await until(met, `node ${port} to meet the cluster`, 10_000);
        await withNode(port, (c) => c.call('CLUSTER', 'REPLICATE', masterId));
        await until(async () => (await linked(port)) && (await settled()), `node ${port} to replicate port ${master}`, 30_000);
      }
    },
  };
}
