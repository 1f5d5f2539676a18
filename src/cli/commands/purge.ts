/** `purge NAME`: remove everything a store keeps for a scheduler name; refuses while tasks run unless forced. */
import type { Command } from 'commander';
import { askStore, withConnection, type ConnectionFlags } from '../connection.js';
import { exitCodes, type ExitCode } from '../exit-codes.js';
import { writeJson, type Output } from '../output.js';

interface PurgeFlags extends ConnectionFlags {
  force?: boolean;
  json?: boolean;
}

export function addPurgeCommand(program: Command, output: Output, done: (code: ExitCode) => void): void {
  withConnection(program.command('purge').argument('<name>', 'the scheduler name to remove'))
    .description("remove a scheduler name's state from its store: slots, tokens, ended records, history")
    .option(
      '--force',
      'purge even while tasks run or slots are reserved: their holders lose their slots, and a scheduler still running the name creates its slots again',
    )
    .option('--json', 'print the result as JSON')
    .action(async (name: string, flags: PurgeFlags) => {
      done(
        await askStore(output, { ...flags, name }, 'purge', async (scheduler) => {
          const result = await scheduler.purge({ force: flags.force === true });
          if (flags.json) writeJson(output, result);
          if (!result.purged) {
            if (!flags.json) {
              const inUse = [
                ...result.running.map((r) => `slot ${r.slotId} runs ${r.taskId} (${r.owner})`),
                ...result.reserved.map((r) => `slot ${r.slotId} is reserved (${r.owner})`),
              ];
              output.err.write(`refused: "${name}" is in use: ${inUse.join('; ')}. Stop its schedulers first, or purge --force\n`);
            }
            return exitCodes.failed;
          }
          if (!flags.json) {
            const dropped = result.dropped.length > 0 ? `; ${result.dropped.length} running tasks lost their slots` : '';
            output.out.write(`purged "${name}": ${result.slots} slots removed${dropped}\n`);
            if (result.slots === 0)
              output.err.write(`"${name}" had no slots in this store: check the name, --key-prefix or --postgres-schema\n`);
          }
          return exitCodes.ok;
        }),
      );
    });
}
