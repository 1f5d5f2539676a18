/** `history`: each occupancy's record, from the store, filtered in CodeChecker's manner. */
import { InvalidArgumentError, type Command } from 'commander';
import type { HistoryQuery } from '../../contracts/history.js';
import type { HistoryRecord } from '../../contracts/store.js';
import { askStore, withConnection, type ConnectionFlags } from '../connection.js';
import { exitCodes, type ExitCode } from '../exit-codes.js';
import { formatSpan, formatTime, table, writeJson, type Output } from '../output.js';
import { readTimeBound, renameHistoryField, timeBoundAllowed } from '../../views/history-query.js';

interface HistoryFlags extends ConnectionFlags {
  outcome?: string[];
  reason?: string[];
  status?: string[];
  backend?: string[];
  slot?: string[];
  holder?: string[];
  startedAfter?: number;
  startedBefore?: number;
  endedAfter?: number;
  endedBefore?: number;
  limit?: number;
  json?: boolean;
}

/** Repeated or comma-separated values: `--outcome failed,dropped` or `--outcome failed --outcome dropped`. */
function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter((v) => v !== '')];
}

/** A time bound: an ISO date or time (`2026-12-05T10:00Z`), or a duration ago (`90m`: 90 minutes ago). */
export function timeArgument(value: string): number {
  const ms = readTimeBound(value);
  if (ms === undefined) throw new InvalidArgumentError(timeBoundAllowed);
  return ms;
}

function limitArgument(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError('allowed: a whole number from 1 to 10000');
  return n;
}

export function queryOf(taskIds: readonly string[], flags: HistoryFlags): HistoryQuery {
  const list = (values: string[] | undefined) => (values !== undefined && values.length > 0 ? values : undefined);
  const query: Record<string, unknown> = {
    taskId: list([...taskIds]),
    outcome: list(flags.outcome),
    reason: list(flags.reason),
    status: list(flags.status),
    backend: list(flags.backend),
    slotId: list(flags.slot),
    owner: list(flags.holder),
    startedAfter: flags.startedAfter,
    startedBefore: flags.startedBefore,
    endedAfter: flags.endedAfter,
    endedBefore: flags.endedBefore,
    limit: flags.limit,
  };
  return Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined)) as HistoryQuery;
}

function render(records: readonly HistoryRecord[]): string {
  const rows = records.map((r) => [
    r.taskId,
    String(r.token),
    r.slotId,
    r.backend,
    r.outcome,
    r.reason ?? '-',
    r.status ?? '-',
    // Whole, as --holder takes it: host, pid and the instance's id.
    r.owner,
    formatTime(r.startedAt),
    r.endedAt === null ? '-' : formatSpan(r.endedAt - r.startedAt),
    String(r.keepalives),
    r.error ?? '',
  ]);
  const header = ['TASK', 'TOKEN', 'SLOT', 'BACKEND', 'OUTCOME', 'REASON', 'STATUS', 'HOLDER', 'STARTED', 'RAN', 'KEEPALIVES', 'ERROR'];
  return `${table(header, rows)}${records.length} records\n`;
}

export function addHistoryCommand(program: Command, output: Output, done: (code: ExitCode) => void): void {
  withConnection(program.command('history').argument('[taskIds...]', 'only these task ids'))
    .description('show the record of each occupancy, newest first: running, succeeded, failed, cancelled, timed_out or dropped')
    .option(
      '--outcome <outcome>',
      'running, succeeded, failed, cancelled, timed_out, dropped (repeat or comma-separate: any of them)',
      collect,
    )
    .option(
      '--reason <reason>',
      'end reason: stopped, cancelled, timeout, max_runtime, start_failed, backend_removed, dropped, lost',
      collect,
    )
    .option('--status <status>', 'the status the task reported to stop (e.g. succeeded, failed)', collect)
    .option('--backend <name>', 'backend name', collect)
    .option('--slot <id>', 'slot id', collect)
    .option('--holder <owner>', 'the scheduler instance that held the slot, as the HOLDER column shows it (<host>:<pid>:<id>)', collect)
    .option('--started-after <time>', 'an ISO time, or a duration ago (90m)', timeArgument)
    .option('--started-before <time>', 'an ISO time, or a duration ago', timeArgument)
    .option('--ended-after <time>', 'an ISO time, or a duration ago', timeArgument)
    .option('--ended-before <time>', 'an ISO time, or a duration ago', timeArgument)
    .option('--limit <n>', 'most records to show (default 100)', limitArgument)
    .option('--json', 'print the records as one JSON array')
    .addHelpText('after', '\nFields are ANDed; the values of one field are ORed.')
    .action(async (taskIds: string[], flags: HistoryFlags) => {
      done(
        await askStore(output, flags, 'history', async (scheduler) => {
          const records = await scheduler.history(queryOf(taskIds, flags)).catch((error: unknown) => {
            // `history(query.outcome[0]): got …` becomes `--outcome: got …`.
            throw renameHistoryField(error, (field) => flagOf[field]);
          });
          if (flags.json) writeJson(output, records);
          else output.out.write(render(records));
          return exitCodes.ok;
        }),
      );
    });
}

/** The flag of each query field, so that a bad value is named as the user typed it. */
const flagOf: Record<string, string> = {
  taskId: 'taskIds',
  outcome: '--outcome',
  reason: '--reason',
  status: '--status',
  backend: '--backend',
  slotId: '--slot',
  owner: '--holder',
};
