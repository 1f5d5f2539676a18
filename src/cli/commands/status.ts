/** `status`: every slot of a scheduler name, read from its store, whichever hosts hold them. */
import { InvalidArgumentError, type Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { slotStatus, type SlotStatus } from '../../views/slot-status.js';
import { askStore, withConnection, type ConnectionFlags } from '../connection.js';
import { exitCodes, type ExitCode } from '../exit-codes.js';
import { formatSpan, formatTime, table, writeJson, type Output } from '../output.js';

interface StatusFlags extends ConnectionFlags {
  json?: boolean;
  watch?: number | true;
}

function render(slots: readonly SlotStatus[], now: number): string {
  const rows = slots.map((slot) => {
    const o = slot.occupancy;
    return [
      slot.slotId,
      `${slot.overdue ? 'overdue' : slot.status}${slot.configured === false ? ' (not in config)' : ''}`,
      o?.taskId ?? '-',
      o?.backend ?? '-',
      slot.holder?.host ?? '-',
      slot.holder?.pid === null || slot.holder === null ? '-' : String(slot.holder.pid),
      formatTime(o?.startedAt),
      o ? `${formatSpan(now - o.lastKeepaliveAt)} ago` : '-',
      slot.timeLeftMs === null ? '-' : formatSpan(slot.timeLeftMs),
      String(slot.token),
    ];
  });
  const busy = slots.filter((slot) => slot.status === 'running').length;
  const header = ['SLOT', 'STATE', 'TASK', 'BACKEND', 'HOST', 'PID', 'STARTED', 'KEEPALIVE', 'LEFT', 'TOKEN'];
  return `${table(header, rows)}${slots.length} slots, ${busy} running\n`;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.1 || n > 3600) throw new InvalidArgumentError('allowed: seconds between refreshes, 0.1 to 3600');
  return n;
}

export function addStatusCommand(program: Command, output: Output, done: (code: ExitCode) => void): void {
  withConnection(program.command('status'))
    .description('show every slot of the scheduler name, from the store: state, task, backend, holder, times')
    .option('--json', 'print the slots as JSON (one array; with --watch, one line per refresh)')
    .option('--watch [seconds]', 'refresh every few seconds (default 2) until interrupted', seconds)
    .action(async (flags: StatusFlags) => {
      done(
        await askStore(output, flags, 'status', async (scheduler, config) => {
          // The CLI loads no config: whether a slot is configured comes from the file, when one is given.
          const configured = config && new Map(config.slots.map((slot) => [String(slot.slotId ?? slot.slot_id), slot.backends]));
          const interval = flags.watch === undefined ? 0 : flags.watch === true ? 2 : flags.watch;
          const stopped = watchUntilSignal(interval > 0);
          const tty = (output.out as NodeJS.WriteStream).isTTY === true;
          let hinted = false;
          do {
            const now = Date.now();
            const slots = (await scheduler.inspect()).map((slot) => slotStatus(slot, now, configured));
            if (flags.json) writeJson(output, slots);
            else output.out.write(`${interval > 0 && tty ? '\x1b[2J\x1b[H' : ''}${render(slots, now)}`);
            if (slots.length === 0 && !hinted) {
              hinted = true;
              output.err.write(`no slots of "${scheduler.name}" in this store: check the name, --key-prefix or --postgres-schema\n`);
            }
            if (interval > 0) await Promise.race([sleep(interval * 1000), stopped.promise]);
          } while (interval > 0 && !stopped.done);
          stopped.dispose();
          return exitCodes.ok;
        }),
      );
    });
}

/** With --watch, SIGINT/SIGTERM end the loop cleanly (exit 0) rather than killing the process mid-read. */
function watchUntilSignal(watching: boolean): { promise: Promise<void>; done: boolean; dispose: () => void } {
  const state = { done: false, promise: Promise.resolve(), dispose: () => {} };
  if (!watching) return state;
  let resolve!: () => void;
  state.promise = new Promise((r) => (resolve = r));
  const onSignal = () => {
    state.done = true;
    resolve();
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  state.dispose = () => process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  return state;
}
