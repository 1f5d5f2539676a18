/**
 * The `task-semaphore` command (run by `bin.ts`). For now it manages the Procrastinate schema; the
 * scheduler's own commands (run a config file, inspect slots) come with the CLI issue. It loads
 * `pg` only for a command that needs it, so `--help` works with no peer installed.
 */
import { parseArgs } from 'node:util';
import { applySchema, checkSchemaLevel } from '../../backends/procrastinate/schema.js';
import { isTaskSemaphoreError, redactUrl } from '../core/errors.js';
import { loadPeer } from '../core/peers.js';
import { poolFromUrl } from '../core/postgres/pool.js';
import { isSchemaName, schemaNameAllowed } from '../core/postgres/schema-name.js';

export const usage = `Usage: task-semaphore <command> [options]

Commands:
  procrastinate check-schema   Check that the database holds a Procrastinate schema of level 3.4
                               (Procrastinate 3.4 to 3.9); name what is missing otherwise.
  procrastinate apply-schema   Create a Procrastinate-compatible schema (written for task-semaphore)
                               where none exists; do nothing where it is complete.
                               Both need the pg package (npm install pg).

Options:
  --database-url <url>   PostgreSQL to use (default: $DATABASE_URL)
  --schema <name>        Schema holding the procrastinate_* objects, as the Python app's
                         search_path (default: the connection's search_path)
  -h, --help             Show this help
`;

/** Runs the command line; returns the exit code. Output goes to the given streams. */
export async function main(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { 'database-url': { type: 'string' }, schema: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    err.write(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out.write(usage);
    return 0;
  }
  const command = positionals.join(' ');
  if (command !== 'procrastinate check-schema' && command !== 'procrastinate apply-schema') {
    err.write(`${command ? `unknown command "${command}"` : 'no command given'}\n\n${usage}`);
    return 2;
  }
  const url = values['database-url'] ?? process.env.DATABASE_URL;
  if (!url) {
    err.write('no database: give --database-url <url> or set DATABASE_URL\n');
    return 2;
  }
  if (values.schema !== undefined && !isSchemaName(values.schema)) {
    err.write(`--schema: got "${values.schema}"; ${schemaNameAllowed}\n`);
    return 2;
  }
  let pg;
  try {
    pg = loadPeer('pg', `task-semaphore ${command}`);
  } catch (error) {
    err.write(`${(error as Error).message}\n`);
    return 1;
  }
  const pool = poolFromUrl(
    url,
    { max: 1, ...(values.schema ? { options: `-c search_path=${values.schema}` } : {}) },
    `task-semaphore ${command}`,
  );
  try {
    if (command === 'procrastinate apply-schema') {
      if (values.schema) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(values.schema)}`);
      const result = await applySchema(pool);
      out.write(
        result.applied
          ? `created the Procrastinate schema in "${result.schema}"\n`
          : `the Procrastinate schema in "${result.schema}" is complete: nothing to do\n`,
      );
    } else {
      const level = await checkSchemaLevel(pool);
      out.write(`Procrastinate schema level ${level}: ok\n`);
    }
    return 0;
  } catch (error) {
    const message = isTaskSemaphoreError(error) ? error.message : `${redactUrl(url)}: ${(error as Error).message}`;
    err.write(`${message}\n`);
    return 1;
  } finally {
    await pool.end().catch(() => {});
  }
}
