/**
 * Servers of a test's own, on free ports, for tests that restart, flush, freeze or kill a store:
 * the shared Redis and PostgreSQL of the suite must never be. Each is a child process started here
 * and stopped by its pid at teardown.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, chownSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/**
 * Where a server registers its cleanup: an ava `ExecutionContext`, or anything with the same
 * `teardown` (the fault suite's command line, which runs outside ava).
 */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Whether nothing listens on `port` of the loopback now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port in 20000-40000 that nothing listens on now (random, so parallel helpers rarely collide). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (await portIsFree(port)) return port;
  }
}

/** Resolves once `child` has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

/** Polls `check` until it holds, or throws naming `what` after `ms`. */
export async function until(check: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Stops (SIGSTOP) or resumes (SIGCONT) every process of a server: it keeps its sockets open and
 * answers nothing, so its clients' connections hang half-open, as behind a network partition.
 */
function signalAll(pids: readonly number[], signal: 'SIGSTOP' | 'SIGCONT'): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // A backend that exited meanwhile: nothing to stop or resume.
    }
  }
}

/** A server the test can freeze: every process stopped, connections left open and unanswered. */
export interface Freezable {
  /** SIGSTOP of every process of the server. */
  freeze(): void;
  /** SIGCONT of every process frozen by `freeze()`. */
  thaw(): void;
}

/** A redis-server of the test's own, without persistence, as an operator's cache-style Redis. */
export interface OwnRedis extends Freezable {
  url: string;
  port: number;
  /** The running server's pid. */
  readonly pid: number;
  /**
   * `SHUTDOWN NOSAVE`, then, `downMs` later, a new server on the same port: every key is gone, as
   * after a restart without persistence.
   */
  restart(downMs?: number): Promise<void>;
  /** `FLUSHALL` on the running server. */
  flushAll(): Promise<void>;
}

export async function ownRedis(t: Teardown): Promise<OwnRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let server: ChildProcess | undefined;
  let frozen = false;
  const admin = () => {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    return client;
  };
  const start = async () => {
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    await until(
      async () => {
        const client = admin();
        try {
          return (await client.ping()) === 'PONG';
        } finally {
          client.disconnect();
        }
      },
      `redis-server on port ${port}`,
      10_000,
    );
  };
  t.teardown(async () => {
    server?.kill('SIGKILL');
    if (server) await exited(server);
  });
  await start();
  return {
    url,
    port,
    get pid() {
      return server!.pid!;
    },
    freeze() {
      frozen = true;
      signalAll([server!.pid!], 'SIGSTOP');
    },
    thaw() {
      if (frozen) signalAll([server!.pid!], 'SIGCONT');
      frozen = false;
    },
    async restart(downMs = 0) {
      const client = admin();
      // The server closes the connection as it exits: the command never gets an answer.
      await client.call('SHUTDOWN', 'NOSAVE').catch(() => {});
      client.disconnect();
      await exited(server!);
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
    },
    async flushAll() {
      const client = admin();
      try {
        await client.flushall();
      } finally {
        client.disconnect();
      }
    },
  };
}

/** A PostgreSQL cluster of the test's own, in a temporary directory. */
export interface OwnPostgres extends Freezable {
  /** A URL of its `postgres` database. */
  url: string;
  port: number;
  /** `pg_ctl stop -m fast|immediate`, then, `downMs` later, start again on the same port and data. */
  restart(mode: 'fast' | 'immediate', downMs?: number): Promise<void>;
}

/**
 * initdb and pg_ctl refuse to run as root: as root, they run as the `postgres` user, which owns
 * the directory.
 */
function pgCommand(args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', ...args]] : [args[0]!, args.slice(1)];
}

function runPg(args: string[]): void {
  const [command, rest] = pgCommand(args);
  const result = spawnSync(command, rest, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr || result.stdout || String(result.error)}`);
}

/** `runPg` without blocking the event loop: a test's other timers (its faults, its clients) go on meanwhile. */
async function runPgAsync(args: string[]): Promise<void> {
  const [command, rest] = pgCommand(args);
  await runCommand(command, rest, args.join(' '));
}

/**
 * Runs a command to its exit without blocking the event loop; throws with its output, naming it
 * `label`, if it fails.
 */
export async function runCommand(command: string, args: readonly string[], label = `${command} ${args.join(' ')}`): Promise<void> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    // Not 'close': a daemon the command starts (pg_ctl's postmaster) may hold the pipes open long after it exits.
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`${label} failed: ${output}`);
}

/**
 * Starts a throwaway cluster and stops it at teardown. Trust auth, and no fsync: that loses data
 * only when the machine itself crashes, never when PostgreSQL stops, however abruptly (commits stay
 * synchronous, so a commit that answered is in the WAL).
 */
export async function ownPostgres(t: Teardown): Promise<OwnPostgres> {
  let port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ts-pg-'));
  if (process.getuid?.() === 0) {
    const { uid, gid } = userIds('postgres');
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  runPg(['initdb', '-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const log = join(dir, 'log');
  const start = () => {
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
    return runPgAsync(['pg_ctl', '-D', data, '-o', options, '-l', log, '-w', '-t', '120', 'start']);
  };
  // The processes frozen by freeze(), resumed by thaw() (and before the teardown stops the cluster).
  let frozen: number[] = [];
  const thaw = () => {
    signalAll(frozen, 'SIGCONT');
    frozen = [];
  };
  t.teardown(() => {
    thaw();
    try {
      runPg(['pg_ctl', '-D', data, '-m', 'immediate', '-w', 'stop']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  // A port found free may be taken before the server binds it (other suites start servers too):
  // the postmaster then exits at once. Try another, and say what the server logged if none works.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (error) {
      const logged = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : '(no log)';
      if (attempt === 3) throw new Error(`${(error as Error).message}\nserver log:\n${logged}`);
      port = await freePort();
    }
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    freeze() {
      // The postmaster first, so that it forks no new backend while its children are being stopped.
      const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      frozen = [postmaster, ...childrenOf(postmaster)];
      signalAll(frozen, 'SIGSTOP');
    },
    thaw,
    async restart(mode, downMs = 0) {
      await runPgAsync(['pg_ctl', '-D', data, '-m', mode, '-w', 'stop']);
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
    },
  };
}

/** The pids whose parent is `parent`, read from /proc (the backends and helpers of a postmaster). */
function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ...": comm may hold spaces, so read after its ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) children.push(Number(entry));
    } catch {
      // The process exited while we read.
    }
  }
  return children;
}

function userIds(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
}
