-- set-persistence: makes the store's tables unlogged or logged (the `unlogged` option), those not
-- so already; run by init() under migrations-lock, after the migrations.
-- Parameters: $1 text: the schema name (unescaped); $2 boolean: true for unlogged.
-- Returns one row per table changed: name text.
SELECT t.name FROM __SCHEMA__.task_semaphore_set_persistence_v1($1::text, $2::boolean) AS t(name);
