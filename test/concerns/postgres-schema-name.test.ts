/**
 * A PostgreSQL schema name is checked by one rule wherever it is given: the scheduler's
 * `postgresSchema`, the PostgreSQL store's `schema` and the CLI's `--schema` accept and refuse the
 * same names, with the same words.
 */
import test from 'ava';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/cli.js';
import { ConfigError } from '../../src/core/errors.js';
import { schemaNameAllowed } from '../../src/core/postgres/schema-name.js';
import { resolveOptions } from '../../src/scheduler/options.js';
import { PostgresSlotStore } from '../../slots/postgres/postgres-store.js';

const refused = ['', '1st', 'my-schema', 'a; DROP TABLE x', '"quoted"', 'x'.repeat(64), 'é'];
const accepted = ['public', 'jobs_2', '_x', 'A'.repeat(63)];

/** What the CLI writes to stderr and its exit code, for `--schema <name>` (refused before connecting). */
async function cliSchema(name: string): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => ((stderr += chunk.toString()), done()) });
  const args = ['procrastinate', 'check-schema', '--database-url', 'postgres://localhost:1/none', '--schema', name];
  return { code: await main(args, sink, sink), stderr };
}

test('the scheduler, the store and the CLI refuse the same schema names, saying what is allowed', async (t) => {
  for (const name of refused) {
    const scheduler = t.throws(() => resolveOptions({ name: 'n', postgresSchema: name }), { instanceOf: ConfigError });
    t.true(scheduler.message.endsWith(schemaNameAllowed), scheduler.message);
    const store = t.throws(() => new PostgresSlotStore({ name: 'n', postgres: 'postgres://localhost/db', schema: name }), {
      instanceOf: ConfigError,
    });
    t.true(store.message.endsWith(schemaNameAllowed), store.message);
    t.deepEqual(await cliSchema(name), { code: 2, stderr: `--schema: got ${JSON.stringify(name)}; ${schemaNameAllowed}\n` });
  }
});

test('the scheduler and the store accept the same schema names', (t) => {
  for (const name of accepted) {
    t.is(resolveOptions({ name: 'n', postgresSchema: name }).postgresSchema, name);
    t.notThrows(() => new PostgresSlotStore({ name: 'n', postgres: 'postgres://localhost/db', schema: name }));
  }
});
