/**
 * The Procrastinate schema this backend talks to: checking its level (there is no migration
 * table, so the level is read from the objects present) and creating it from nothing for teams
 * that run no Python. Everything resolves through the connection's search_path, as the
 * unqualified calls of Procrastinate clients do: connect with the search_path of the Python side.
 */
import type pg from 'pg';
import { ProcrastinateSchemaError } from './errors.js';
import { applyLock, inventory, levelProbes, schema } from './sql.generated.js';

/** The schema level this library needs: what Procrastinate 3.4.0 to 3.9.0 create. */
export type ProcrastinateSchemaLevel = '3.4';

/** The level {@link checkSchemaLevel} requires and {@link applySchema} creates. */
export const requiredLevel: ProcrastinateSchemaLevel = '3.4';

/** Procrastinate's migration file prefix for {@link requiredLevel}: apply migrations up to it. */
const requiredMigration = '03.04.00';

/** Anything that runs a query: a pg.Pool, a pg.Client or a pool's client. */
export type Queryable = pg.Pool | pg.ClientBase;

/** Options of {@link applySchema}. */
export interface ApplySchemaOptions {
  /**
   * Told at info level when the schema is created (with the schema name); nothing is logged
   * when it was already there. Any winston-compatible logger.
   * @defaultValue no logging
   */
  logger?: { info(message: string, fields?: Record<string, unknown>): unknown };
}

/** What {@link applySchema} did. */
export interface ApplySchemaResult {
  /** True if this call created the schema, false if it was already at the required level. */
  applied: boolean;
  /**
   * The schema holding the procrastinate tables: the first existing schema of search_path when
   * created, wherever search_path found them otherwise.
   */
  schema: string;
  level: ProcrastinateSchemaLevel;
}

/** One row of level-probes.sql: a boolean per probe, plus the search_path. */
type ProbeRow = Record<ProbeKey, boolean> & { search_path: string };

type ProbeKey =
  | 'jobs_table'
  | 'jobs_abort_requested'
  | 'cancel_job_v1'
  | 'workers_table'
  | 'jobs_worker_id'
  | 'fetch_job_v2'
  | 'register_worker_v1'
  | 'job_to_defer_type'
  | 'defer_jobs_v1'
  | 'defer_periodic_job_v2'
  | 'fetch_job_v2_priority_lock'
  | 'retried_event'
  | 'retry_job_v2';

interface Probe {
  key: ProbeKey;
  /** The Procrastinate version that introduced what the probe looks for. */
  level: string;
  object: string;
  /** What is wrong when the probe fails. @defaultValue 'is missing' */
  problem?: string;
}

const fetchJobV2 = 'function procrastinate_fetch_job_v2(character varying[], bigint)';

/**
 * The probes in level order: the first that fails tells the level the schema is older than.
 * Signatures are written as PostgreSQL prints them, so a message can be pasted into `\df`.
 */
const probes: readonly Probe[] = Object.freeze([
  { key: 'jobs_table', level: '3.0', object: 'table procrastinate_jobs' },
  { key: 'jobs_abort_requested', level: '3.0', object: 'column procrastinate_jobs.abort_requested' },
  { key: 'cancel_job_v1', level: '3.0', object: 'function procrastinate_cancel_job_v1(bigint, boolean, boolean)' },
  { key: 'workers_table', level: '3.1', object: 'table procrastinate_workers' },
  { key: 'jobs_worker_id', level: '3.1', object: 'column procrastinate_jobs.worker_id' },
  { key: 'fetch_job_v2', level: '3.1', object: fetchJobV2 },
  { key: 'register_worker_v1', level: '3.1', object: 'function procrastinate_register_worker_v1()' },
  { key: 'job_to_defer_type', level: '3.2', object: 'type procrastinate_job_to_defer_v1' },
  { key: 'defer_jobs_v1', level: '3.2', object: 'function procrastinate_defer_jobs_v1(procrastinate_job_to_defer_v1[])' },
  {
    key: 'defer_periodic_job_v2',
    level: '3.2',
    object:
      'function procrastinate_defer_periodic_job_v2(character varying, character varying, character varying, ' +
      'character varying, integer, character varying, bigint, jsonb)',
  },
  {
    key: 'fetch_job_v2_priority_lock',
    level: '3.3',
    object: fetchJobV2,
    problem: 'lacks the priority-aware lock rule (its body never compares other_jobs.priority)',
  },
  { key: 'retried_event', level: '3.4', object: "label 'retried' of enum procrastinate_job_event_type" },
  {
    key: 'retry_job_v2',
    level: '3.4',
    object: 'function procrastinate_retry_job_v2(bigint, timestamp with time zone, integer, character varying, character varying)',
  },
] satisfies Probe[]);

/**
 * Checks that the schema seen through the connection's search_path is at least at level 3.4
 * (Procrastinate 3.4.0 to 3.9.0). Read-only; one query.
 *
 * @returns the detected level, `'3.4'`.
 * @throws {@link ProcrastinateSchemaError} (`ERR_PROCRASTINATE_SCHEMA`) naming the first missing
 *   or outdated object and the version that introduced it, e.g. `procrastinate schema is older
 *   than 3.4: function procrastinate_retry_job_v2(…) is missing; apply
 *   procrastinate/sql/migrations up to 03.04.00, …`.
 */
export async function checkSchemaLevel(db: Queryable): Promise<ProcrastinateSchemaLevel> {
  const result = await db.query<ProbeRow>(levelProbes);
  const row = result.rows[0];
  if (row === undefined) throw new Error('level-probes.sql returned no row');
  const failed = probes.find((probe) => !row[probe.key]);
  if (failed === undefined) return requiredLevel;

  const searchPath = row.search_path;
  if (failed.key === 'jobs_table') {
    throw new ProcrastinateSchemaError(
      `procrastinate schema not found: table procrastinate_jobs is missing in search_path "${searchPath}"; ` +
        `connect with the search_path the Python side uses (pg: options: '-c search_path=<schema>'), ` +
        `or call applySchema() to create the schema there`,
      { level: failed.level, object: failed.object, searchPath },
    );
  }
  throw new ProcrastinateSchemaError(
    `procrastinate schema is older than ${failed.level}: ${failed.object} ${failed.problem ?? 'is missing'}; ` +
      `apply procrastinate/sql/migrations up to ${requiredMigration}, or call applySchema() on a schema ` +
      `without procrastinate objects (search_path "${searchPath}")`,
    { level: failed.level, object: failed.object, searchPath },
  );
}

/** One row of inventory.sql. */
interface InventoryRow {
  object: string;
  present: boolean;
  target_schema: string | null;
  jobs_schema: string | null;
  search_path: string;
}

/**
 * Creates the Procrastinate schema (level 3.4, from `sql/schema.sql`) in the first existing
 * schema of the connection's search_path, in one transaction, unless it is already there.
 *
 * - Already at level 3.4 or later: does nothing (`applied: false`).
 * - No procrastinate object at all: creates every one, then checks the level.
 * - Some objects but not the required level (an older or partial schema): changes nothing and
 *   throws, since upgrading an existing schema is the job of Procrastinate's own migrations.
 *
 * Concurrent calls on one schema take turns on an advisory lock; the later ones find the schema
 * in place. A pool lends one client for the transaction.
 *
 * @param db - a pg.Pool, or a connected client that is not inside a transaction.
 * @throws {@link ProcrastinateSchemaError} when the schema is partial or older, when search_path
 *   names no existing schema, or when creating fails (the PostgreSQL error is its `cause`).
 */
export async function applySchema(db: Queryable, options: ApplySchemaOptions = {}): Promise<ApplySchemaResult> {
  if (!isPool(db)) return applyOnClient(db, options);
  const client = await db.connect();
  try {
    return await applyOnClient(client, options);
  } finally {
    client.release();
  }
}

async function applyOnClient(client: pg.ClientBase, options: ApplySchemaOptions): Promise<ApplySchemaResult> {
  await client.query('BEGIN');
  try {
    await client.query(applyLock);
    // Each statement below takes a new snapshot, so it sees what a run holding the lock before us committed.
    const objects = (await client.query<InventoryRow>(inventory)).rows;
    const first = objects[0];
    if (first === undefined) throw new Error('inventory.sql returned no row');
    const { target_schema: target, jobs_schema: found, search_path: searchPath } = first;
    if (target === null) {
      throw new ProcrastinateSchemaError(
        `cannot apply the procrastinate schema: no schema of search_path "${searchPath}" exists; ` +
          `create the schema first, or connect with an existing one first in search_path`,
        { searchPath },
      );
    }

    const present = objects.filter((o) => o.present);
    let applied = false;
    if (present.length === objects.length) {
      await checkSchemaLevel(client); // throws when a complete set of objects is still outdated
    } else if (present.length > 0) {
      throw await partialSchemaError(client, target, searchPath, present, objects);
    } else {
      try {
        await client.query(schema);
      } catch (error) {
        throw new ProcrastinateSchemaError(
          `applying the procrastinate schema to "${target}" failed, nothing was created: ` +
            `${error instanceof Error ? error.message : String(error)}`,
          { searchPath, cause: error },
        );
      }
      await checkSchemaLevel(client);
      applied = true;
    }
    await client.query('COMMIT');
    if (applied) options.logger?.info('procrastinate schema applied', { backend: 'procrastinate', schema: target, level: requiredLevel });
    return { applied, schema: applied ? target : (found ?? target), level: requiredLevel };
  } catch (error) {
    // A broken connection cannot roll back; the server does it when the session ends.
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/**
 * The error for a schema holding some procrastinate objects but not all: says what is there,
 * what is missing, and the level check's verdict when it names an older version.
 */
async function partialSchemaError(
  client: pg.ClientBase,
  target: string,
  searchPath: string,
  present: readonly InventoryRow[],
  objects: readonly InventoryRow[],
): Promise<ProcrastinateSchemaError> {
  const missing = objects.filter((o) => !o.present);
  let verdict: ProcrastinateSchemaError | undefined;
  try {
    await checkSchemaLevel(client);
  } catch (error) {
    if (!(error instanceof ProcrastinateSchemaError)) throw error;
    verdict = error;
  }
  return new ProcrastinateSchemaError(
    `cannot apply the procrastinate schema to "${target}": it already holds ${present.length} of its ` +
      `${objects.length} objects (${list(present)}) but lacks ${missing.length} (${list(missing)}); ` +
      (verdict ? `${verdict.message}. ` : '') +
      `applySchema() only creates a schema from nothing: upgrade an older schema with ` +
      `procrastinate/sql/migrations up to ${requiredMigration}, or drop the leftover objects`,
    { level: verdict?.level, object: missing[0]?.object, searchPath, cause: verdict },
  );
}

/** The first few object names, so that a message stays readable. */
function list(rows: readonly InventoryRow[], max = 3): string {
  const names = rows.slice(0, max).map((r) => r.object);
  return rows.length > max ? `${names.join(', ')}, …` : names.join(', ');
}

/** A pg.Pool lends clients; a client (pooled or not) is itself the connection. */
function isPool(db: Queryable): db is pg.Pool {
  return 'idleCount' in db && 'totalCount' in db;
}
