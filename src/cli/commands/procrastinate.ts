/**
 * `procrastinate check-schema | apply-schema`: the Procrastinate tables the backend shares with
 * Python. Loads `pg` only when run, so `--help` works with no peer installed.
 */
import { Option, type Command } from 'commander';
import { applySchema, checkSchemaLevel } from '../../../backends/procrastinate/schema.js';
import { ConfigError, isTaskSemaphoreError, redactUrl } from '../../core/errors.js';
import { loadPeer } from '../../core/peers.js';
import { poolFromUrl } from '../../core/postgres/pool.js';
import { isSchemaName, schemaNameAllowed } from '../../core/postgres/schema-name.js';
import { exitCodes, type ExitCode } from '../exit-codes.js';
import { reportError, type Output } from '../output.js';

interface SchemaFlags {
  databaseUrl?: string;
  schema?: string;
}

export function addProcrastinateCommands(program: Command, output: Output, done: (code: ExitCode) => void): void {
  const group = program.command('procrastinate').description("the Procrastinate schema shared with Python's workers");
  const withDatabase = (command: Command) =>
    command
      .addOption(new Option('--database-url <url>', 'PostgreSQL to use').env('DATABASE_URL'))
      .option('--schema <name>', "schema of the procrastinate_* objects, as the Python app's search_path (default: the connection's)");

  withDatabase(group.command('check-schema'))
    .description('check that the database holds a Procrastinate schema of level 3.4 (Procrastinate 3.4 to 3.9); name what is missing')
    .action(async (flags: SchemaFlags) => done(await schemaCommand('check-schema', flags, output)));
  withDatabase(group.command('apply-schema'))
    .description('create a Procrastinate-compatible schema where none exists; do nothing where it is complete')
    .action(async (flags: SchemaFlags) => done(await schemaCommand('apply-schema', flags, output)));
}

async function schemaCommand(command: 'check-schema' | 'apply-schema', flags: SchemaFlags, output: Output): Promise<ExitCode> {
  const doing = `task-semaphore procrastinate ${command}`;
  const url = flags.databaseUrl;
  try {
    if (!url) throw new ConfigError('--database-url', undefined, 'allowed: a postgres:// URL (or set DATABASE_URL)');
    if (flags.schema !== undefined && !isSchemaName(flags.schema)) throw new ConfigError('--schema', flags.schema, schemaNameAllowed);
    loadPeer('pg', doing);
  } catch (error) {
    return reportError(output, error, doing);
  }
  const pg = loadPeer('pg', doing);
  const pool = poolFromUrl(url, { max: 1, ...(flags.schema ? { options: `-c search_path=${flags.schema}` } : {}) }, doing);
  try {
    if (command === 'apply-schema') {
      if (flags.schema) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(flags.schema)}`);
      const result = await applySchema(pool);
      output.out.write(
        result.applied
          ? `created the Procrastinate schema in "${result.schema}"\n`
          : `the Procrastinate schema in "${result.schema}" is complete: nothing to do\n`,
      );
    } else {
      output.out.write(`Procrastinate schema level ${await checkSchemaLevel(pool)}: ok\n`);
    }
    return exitCodes.ok;
  } catch (error) {
    output.err.write(`${isTaskSemaphoreError(error) ? error.message : `${redactUrl(url)}: ${(error as Error).message}`}\n`);
    return exitCodes.failed;
  } finally {
    await pool.end().catch(() => {});
  }
}
