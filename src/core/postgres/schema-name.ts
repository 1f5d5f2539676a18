/**
 * The PostgreSQL schema names the package accepts, wherever one is given (the scheduler's
 * `postgresSchema`, the PostgreSQL store's `schema`, the CLI's `--schema`): identifiers PostgreSQL
 * neither truncates (63 bytes) nor needs quoted, so that the name means the same in a quoted
 * identifier, a search_path and a NOTIFY channel.
 */
import { text } from '../option-schema.js';

const schemaNamePattern = /^[A-Za-z_]\w{0,62}$/;

/** What a schema name may be, as error messages say it. */
export const schemaNameAllowed = 'allowed: a PostgreSQL identifier (letters, digits, _; up to 63)';

/** True for a schema name the package accepts. */
export function isSchemaName(value: string): boolean {
  return schemaNamePattern.test(value);
}

/** The option schema of a schema name (see option-schema.ts). */
export function schemaNameOption() {
  return text(schemaNamePattern, schemaNameAllowed);
}
