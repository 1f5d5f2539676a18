#!/usr/bin/env node
// Compares the catalog of the schema `applySchema` creates with the one a Procrastinate release's
// own schema.sql creates: columns, function signatures, indexes, triggers, constraints, enums and
// composite types. Function bodies and languages are not compared (the tests check behaviour).
//
//   npm run build
//   git -C procrastinate show 3.9.0:procrastinate/sql/schema.sql > /tmp/schema-3.9.0.sql
//   node scripts/compare-procrastinate-schema.mjs /tmp/schema-3.9.0.sql
//
// DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) gets two scratch schemas, dropped
// at the end. Prints each difference; exits 1 if there is any.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { applySchema } from '../dist/backends/procrastinate/index.js';

const [upstreamFile] = process.argv.slice(2);
if (!upstreamFile) {
  console.error('usage: node scripts/compare-procrastinate-schema.mjs <Procrastinate schema.sql>');
  process.exit(2);
}
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const suffix = Math.random().toString(36).slice(2, 8);
const upstream = `cmp_upstream_${suffix}`;
const ours = `cmp_ours_${suffix}`;

const catalog = {
  columns: `SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default, is_identity
            FROM information_schema.columns WHERE table_schema = $1`,
  functions: `SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid), p.provolatile
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1`,
  indexes: `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1`,
  triggers: `SELECT t.tgname, pg_get_triggerdef(t.oid)
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND NOT t.tgisinternal`,
  constraints: `SELECT conname, pg_get_constraintdef(c.oid) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                WHERE n.nspname = $1`,
  enums: `SELECT t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
          FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
          WHERE n.nspname = $1 GROUP BY t.typname`,
  compositeTypes: `SELECT c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod)
                   FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = $1 AND c.relkind = 'c' AND a.attnum > 0`,
};

const admin = new pg.Client({ connectionString: url });
await admin.connect();
let differences = 0;
try {
  for (const schema of [upstream, ours]) await admin.query(`CREATE SCHEMA ${schema}`);
  // Upstream's file as its own migrations run it: in the first schema of search_path.
  const client = new pg.Client({ connectionString: url, options: `-c search_path=${upstream}` });
  await client.connect();
  await client.query(readFileSync(upstreamFile, 'utf8')).finally(() => client.end());
  const pool = new pg.Pool({ connectionString: url, options: `-c search_path=${ours}` });
  await applySchema(pool).finally(() => pool.end());

  // One line per object, with the schema name taken out so that the two sides compare.
  const rows = async (sql, schema) =>
    (await admin.query(sql, [schema])).rows.map((row) => Object.values(row).map(String).join(' | ').replaceAll(`${schema}.`, '')).sort();
  for (const [kind, sql] of Object.entries(catalog)) {
    const theirs = await rows(sql, upstream);
    const mine = await rows(sql, ours);
    const onlyTheirs = theirs.filter((line) => !mine.includes(line));
    const onlyMine = mine.filter((line) => !theirs.includes(line));
    console.log(`${kind}: ${theirs.length} upstream, ${mine.length} ours, ${onlyTheirs.length + onlyMine.length} differing`);
    for (const line of onlyTheirs) console.log(`  upstream only: ${line}`);
    for (const line of onlyMine) console.log(`  ours only:     ${line}`);
    differences += onlyTheirs.length + onlyMine.length;
  }
} finally {
  for (const schema of [upstream, ours]) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
}
console.log(differences === 0 ? 'same catalog' : `${differences} differing lines`);
process.exitCode = differences === 0 ? 0 : 1;
