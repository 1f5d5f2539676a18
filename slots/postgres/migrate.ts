/**
 * The migration runner of the PostgreSQL slot store: brings a schema up to the tables the store's
 * statements expect. Each migration is idempotent SQL in `sql/migrate-NNN.sql`.
 */
import type pg from 'pg';
import {
  migrate001,
  migrate002,
  migrate003,
  migrate004,
  migrate005,
  migrate006,
  migrate007,
  migrate008,
  migrate009,
  migrate010,
  migrationsApplied,
  migrationsLock,
  migrationsPrepare,
  migrationsRecord,
  migrationsSchema,
  migrationsState,
  persistenceState,
  setPersistence,
} from './sql.generated.js';

/** One numbered schema change. */
export interface Migration {
  version: number;
  /** SQL text with the `__SCHEMA__` placeholder. */
  sql: string;
}

/** Every migration, in version order. Append only: a released migration is never edited. */
export const migrations: readonly Migration[] = Object.freeze([
  { version: 1, sql: migrate001 },
  { version: 2, sql: migrate002 },
  { version: 3, sql: migrate003 },
  { version: 4, sql: migrate004 },
  { version: 5, sql: migrate005 },
  { version: 6, sql: migrate006 },
  { version: 7, sql: migrate007 },
  { version: 8, sql: migrate008 },
  { version: 9, sql: migrate009 },
  { version: 10, sql: migrate010 },
]);

/** What failed in {@link migrate} was setting the tables' persistence: the store says so, naming its option. */
export class PersistenceChangeError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** Replaces the schema placeholder of a statement with an escaped identifier. */
export function bindSchema(sql: string, schemaIdentifier: string): string {
  return sql.replaceAll('__SCHEMA__', schemaIdentifier);
}

/**
 * Applies, in one transaction on `client`, the migrations `schema` lacks, creating the schema and
 * the table of applied versions if needed. A transaction-scoped advisory lock per schema makes
 * concurrent runs from several processes take turns: the later ones find everything in place and
 * record nothing. Versions newer than this library knows are left alone, since migrations only add.
 *
 * Then, when `unlogged` is given, makes the store's tables unlogged (true) or logged (false), in
 * the same transaction: what the last process to start with the option asked for holds.
 *
 * @param client - a connected client, not in a transaction; it is left outside one.
 * @param schema - the schema name, unescaped.
 * @param schemaIdentifier - the same name escaped with `pg.escapeIdentifier`.
 * @param unlogged - the tables' persistence to set; undefined leaves it as it is.
 * @throws PersistenceChangeError when setting the persistence failed (a role that does not own
 *   the tables, say); otherwise whatever PostgreSQL raises. The transaction is then rolled back.
 */
export async function migrate(client: pg.ClientBase, schema: string, schemaIdentifier: string, unlogged?: boolean): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(migrationsLock, [schema]);
    // Create only what is missing: a role without CREATE privilege can still init a migrated schema.
    const state = await client.query<{ has_schema: boolean; has_table: boolean }>(migrationsState, [schema]);
    if (!state.rows[0]?.has_schema) await client.query(bindSchema(migrationsSchema, schemaIdentifier));
    if (!state.rows[0]?.has_table) await client.query(bindSchema(migrationsPrepare, schemaIdentifier));
    const applied = await client.query<{ version: number }>(bindSchema(migrationsApplied, schemaIdentifier));
    const done = new Set(applied.rows.map((row) => row.version));
    for (const { version, sql } of migrations) {
      if (done.has(version)) continue;
      await client.query(bindSchema(sql, schemaIdentifier));
      await client.query(bindSchema(migrationsRecord, schemaIdentifier), [version]);
    }
    if (unlogged !== undefined) {
      // Read first: tables already as asked take no exclusive lock.
      const persistence = await client.query<{ differing: string }>(persistenceState, [schema, unlogged]);
      if (Number(persistence.rows[0]!.differing) > 0) {
        const statement = bindSchema(setPersistence, schemaIdentifier).replaceAll('__PERSISTENCE__', unlogged ? 'UNLOGGED' : 'LOGGED');
        await client.query(statement).catch((error: unknown) => {
          throw new PersistenceChangeError(error);
        });
      }
    }
    await client.query('COMMIT');
  } catch (error) {
    // A broken connection cannot roll back; the server does it when the session ends.
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
