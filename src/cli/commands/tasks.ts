/**
 * `keepalive`, `stop` and `cancel`: a task written in any language reports back from a shell.
 * The exit code says whether the task still holds its slot (see exit-codes.ts).
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { LostOutcome } from '../../contracts/results.js';
import { askStore, withConnection, type ConnectionFlags } from '../connection.js';
import { exitCodes, type ExitCode } from '../exit-codes.js';
import { formatSpan, writeJson, type Output } from '../output.js';

interface TaskFlags extends ConnectionFlags {
  token?: number;
  json?: boolean;
}

interface StopFlags extends TaskFlags {
  status?: string;
  error?: string;
}

/** Parses `--token`: a fencing token is a safe integer. */
export function tokenArgument(value: string): number {
  const token = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(token)) {
    throw new InvalidArgumentError('allowed: an integer fencing token, as the task was given at its start');
  }
  return token;
}

/** The exit codes of a task command, for its --help: what a shell script branches on. */
function exitCodeHelp(ok: string, extra: string[] = []): string {
  return [
    '',
    'Exit codes:',
    `  0  ${ok}`,
    ...extra,
    '  3  the task no longer holds its slot: it timed out or ended; stop working',
    '  4  the task is unknown: no slot holds it and no end of it is kept',
    '  1  the store could not be reached (or failed)',
    '  2  bad usage: an unknown option, a bad value',
  ].join('\n');
}

/** Registers the three task commands; each sets the exit code through `done`. */
export function addTaskCommands(program: Command, output: Output, done: (code: ExitCode) => void): void {
  const withTask = (command: Command) =>
    withConnection(command)
      .option('--token <n>', 'act only on this occupancy of the task (its fencing token)', tokenArgument)
      .option('--json', 'print the answer as one line of JSON');

  withTask(program.command('keepalive').argument('<taskId>', 'the task id'))
    .description('renew the task: its deadline moves to now + its timeout')
    .addHelpText(
      'after',
      exitCodeHelp('renewed: the task holds its slot', ['  5  renewed, but a cancel was requested: stop the task, then call stop']),
    )
    .action(async (taskId: string, flags: TaskFlags) => {
      done(
        await askStore(output, flags, 'keepalive', async (scheduler) => {
          const outcome = await scheduler.keepalive(taskId, tokenOf(flags));
          if (!outcome.ok) return lost(output, flags, outcome);
          if (flags.json) writeJson(output, outcome);
          else {
            const left = formatSpan(outcome.deadline - outcome.lastKeepaliveAt);
            output.out.write(`${taskId} holds slot ${outcome.slotId} (token ${outcome.token}); deadline in ${left}\n`);
            if (outcome.cancelRequested) output.out.write('a cancel was requested: stop the task, then call stop\n');
          }
          return outcome.cancelRequested ? exitCodes.cancelRequested : exitCodes.ok;
        }),
      );
    });

  withTask(program.command('stop').argument('<taskId>', 'the task id'))
    .description('end the task and free its slot')
    .addHelpText('after', exitCodeHelp('ended: its slot is free'))
    .option('--status <status>', 'what became of the task, e.g. succeeded or failed (cancelled ends it as cancelled)')
    .option('--error <message>', 'an error message for the backend')
    .action(async (taskId: string, flags: StopFlags) => {
      done(
        await askStore(output, flags, 'stop', async (scheduler) => {
          const outcome = await scheduler.stop(taskId, {
            ...tokenOf(flags),
            ...(flags.status !== undefined && { status: flags.status }),
            ...(flags.error !== undefined && { error: flags.error }),
          });
          if (!outcome.ok) return lost(output, flags, outcome);
          if (flags.json) writeJson(output, outcome);
          else output.out.write(`${taskId} ended (${outcome.reason}); slot ${outcome.slotId} is free (token ${outcome.token})\n`);
          return exitCodes.ok;
        }),
      );
    });

  withTask(program.command('cancel').argument('<taskId>', 'the task id'))
    .description('ask the task to stop: its next keepalive answers that a cancel was requested')
    .addHelpText('after', exitCodeHelp('the cancel is requested (or already was)'))
    .action(async (taskId: string, flags: TaskFlags) => {
      done(
        await askStore(output, flags, 'cancel', async (scheduler) => {
          const outcome = await scheduler.cancel(taskId, tokenOf(flags));
          if (!outcome.ok) return lost(output, flags, outcome);
          if (flags.json) writeJson(output, outcome);
          else {
            const already = outcome.alreadyRequested ? ' (already requested)' : '';
            output.out.write(`cancel requested for ${taskId} in slot ${outcome.slotId} (token ${outcome.token})${already}\n`);
          }
          return exitCodes.ok;
        }),
      );
    });
}

function tokenOf(flags: TaskFlags): { token?: number } {
  return flags.token === undefined ? {} : { token: flags.token };
}

/** Says why the task no longer holds a slot; exit 3 (lost) or 4 (unknown). */
function lost(output: Output, flags: TaskFlags, outcome: LostOutcome): ExitCode {
  if (flags.json) writeJson(output, outcome);
  else if (outcome.reason === 'unknown') {
    const which = flags.token === undefined ? '' : ` under token ${flags.token}`;
    output.out.write(`${outcome.taskId} is unknown: no slot holds it${which} and no end of it is kept\n`);
  } else {
    const how = outcome.reason === 'timed_out' ? 'timed out' : 'ended';
    output.out.write(
      `${outcome.taskId} no longer holds a slot: it ${how} (${outcome.endReason}) in slot ${outcome.slotId}, token ${outcome.token}\n`,
    );
  }
  return outcome.reason === 'unknown' ? exitCodes.unknown : exitCodes.lost;
}
