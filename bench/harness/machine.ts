/** The machine and services a run measured on, as rows for the top of its output. */
import { execSync } from 'node:child_process';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { fmt, type Row } from './format.js';
import { connectPostgres, connectRedis } from './services.js';

/** The 1, 5 and 15-minute load averages, e.g. `1.83 1.37 0.64`. */
export const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** The output of a shell command, or `?` when it fails. */
export function shell(command: string): string {
  try {
    return execSync(command, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

export interface MachineOptions {
  /** Ask Redis its version. */
  redis: boolean;
  /** Ask PostgreSQL its version and `synchronous_commit`. */
  postgres: boolean;
  /** Of the benchmark's own ioredis clients: adds a row saying so (undefined: no row). */
  autoPipelining?: boolean;
}

/** Date, CPUs, memory, Node, kernel, library commit, Redis and PostgreSQL, and the load average now. */
export async function machineRows(options: MachineOptions): Promise<Row[]> {
  const rows: Row[] = [
    { item: 'date', value: new Date().toISOString() },
    { item: 'cpus (availableParallelism)', value: `${availableParallelism()} × ${cpus()[0]?.model ?? '?'}` },
    { item: 'memory', value: `${fmt(totalmem() / 2 ** 30, 1)} GiB` },
    { item: 'node', value: process.version },
  ];
  rows.push({ item: 'kernel', value: shell('uname -sr') });
  const dirty = shell('git status --porcelain --untracked-files=no -- src slots backends')
    ? ' (with uncommitted changes to the library)'
    : '';
  rows.push({ item: 'library commit', value: `${shell('git rev-parse --short HEAD')}${dirty}` });
  if (options.redis) {
    const client = await connectRedis();
    const info = await client.info('server');
    client.disconnect();
    rows.push({ item: 'redis', value: /redis_version:(\S+)/.exec(info)?.[1] ?? '?' });
  }
  if (options.postgres) {
    const pool = await connectPostgres(1);
    const { rows: version } = await pool.query<{ server_version: string }>('SHOW server_version');
    const { rows: sync } = await pool.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
    await pool.end();
    rows.push({
      item: 'postgresql',
      value: `${version[0]?.server_version ?? '?'} (synchronous_commit ${sync[0]?.synchronous_commit ?? '?'})`,
    });
  }
  if (options.redis && options.autoPipelining !== undefined) {
    rows.push({
      item: 'ioredis clients',
      value: `enableAutoPipelining: ${options.autoPipelining} (${options.autoPipelining ? '--autopipelining=on' : 'as the store’s own client from a URL'})`,
    });
  }
  rows.push({ item: 'load average (1/5/15 min) at start', value: loadAverage() });
  return rows;
}
