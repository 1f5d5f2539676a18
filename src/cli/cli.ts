/**
 * The `task-semaphore` command (run by `bin.ts`): builds the commands with commander and runs one.
 * Each command module adds its commands and reports its exit code (see exit-codes.ts); peers
 * (ioredis, pg) load only when a command needs them, so `--help` works with none installed.
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { addConfigCommands } from './commands/config.js';
import { addHistoryCommand } from './commands/history.js';
import { addProcrastinateCommands } from './commands/procrastinate.js';
import { addPurgeCommand } from './commands/purge.js';
import { addRunCommand } from './commands/run.js';
import { addStatusCommand } from './commands/status.js';
import { addTaskCommands } from './commands/tasks.js';
import { exitCodes, type ExitCode } from './exit-codes.js';
import { reportError, type Output } from './output.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

const exitCodeHelp = `
Exit codes:
  0  done; for keepalive, the task still holds its slot
  1  the command failed (a store unreachable, a schema missing, a run that failed)
  2  bad usage or input (unknown option, bad value, invalid config file)
  3  the task no longer holds its slot: it timed out or ended
  4  the task is unknown: no slot holds it and no end of it is kept
  5  keepalive: the slot is renewed, but a cancel was requested: stop the task
  6  run: shut down, but in-process tasks ignored the abort and were dropped
`;

/** Builds the program; `done` receives the exit code of the command that ran. */
export function buildProgram(output: Output, done: (code: ExitCode) => void): Command {
  const program = new Command('task-semaphore')
    .description('Fleet-wide slot semaphore for tasks: run a scheduler, watch its slots, report back from any language.')
    .version(version, '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', exitCodeHelp)
    .configureOutput({ writeOut: (s) => output.out.write(s), writeErr: (s) => output.err.write(s) });
  addRunCommand(program, output, done);
  addStatusCommand(program, output, done);
  addTaskCommands(program, output, done);
  addHistoryCommand(program, output, done);
  addConfigCommands(program, output, done);
  addPurgeCommand(program, output, done);
  addProcrastinateCommands(program, output, done);
  // Every command: its own help and usage errors go to our streams and return a code, never exit the process.
  const configure = (command: Command) => {
    command.exitOverride().configureOutput({ writeOut: (s) => output.out.write(s), writeErr: (s) => output.err.write(s) });
    command.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/** Runs the command line; returns the exit code. Output goes to the given streams. */
export async function main(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  let code: ExitCode = exitCodes.ok;
  const program = buildProgram({ out, err }, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    return reportError({ out, err }, error, `task-semaphore ${argv[0] ?? ''}`);
  }
  return code;
}
