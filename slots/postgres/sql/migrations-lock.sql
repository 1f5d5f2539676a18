-- migrations-lock: serialises migrations of one schema across processes, until the transaction ends,
-- so that concurrent init() calls do not race on catalog rows (CREATE ... IF NOT EXISTS is not
-- safe against a concurrent CREATE of the same name).
-- Parameters: $1 text: the schema name (unescaped).
-- Returns: one row, no useful column.
SELECT pg_advisory_xact_lock(hashtext('task-semaphore:migrate'), hashtext($1::text));
