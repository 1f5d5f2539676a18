/** `config check FILE`: validate a config file as `run` would, reporting every problem at once. */
import type { Command } from 'commander';
import { createScheduler } from '../../service/create-scheduler.js';
import { ConfigFileError } from '../../service/errors.js';
import { loadConfigFile } from '../../service/load-config.js';
import { exitCodes, type ExitCode } from '../exit-codes.js';
import { reportError, writeJson, type Output } from '../output.js';

export function addConfigCommands(program: Command, output: Output, done: (code: ExitCode) => void): void {
  const group = program.command('config').description('config files of task-semaphore run');
  group
    .command('check')
    .argument('<file>', 'the config file (JSON, or a JS/TS module)')
    .description('check the file as run would (its modules imported, its backends built) without connecting to any store')
    .option('--json', 'print the result as JSON: { ok, name, slots, backends } or { ok: false, issues }')
    .action(async (file: string, flags: { json?: boolean }) => done(await check(file, flags.json === true, output)));
}

async function check(file: string, json: boolean, output: Output): Promise<ExitCode> {
  try {
    const config = await loadConfigFile(file);
    // Builds the backends too: a backend class checks its options when built. Nothing connects yet.
    await createScheduler(config, { logger: false }).close();
    const summary = { ok: true, name: config.scheduler.name, slots: config.slots.length, backends: [...config.backends.keys()] };
    if (json) writeJson(output, summary);
    else output.out.write(`${file}: ok: scheduler "${summary.name}", ${summary.slots} slots, backends ${summary.backends.join(', ')}\n`);
    return exitCodes.ok;
  } catch (error) {
    if (json && error instanceof ConfigFileError) {
      const issues = error.issues.map(({ path, allowed, code, message, line, column }) => ({ path, allowed, code, message, line, column }));
      writeJson(output, { ok: false, issues });
      return exitCodes.usage;
    }
    return reportError(output, error, `config check ${file}`);
  }
}
