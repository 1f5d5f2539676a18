-- apply-lock: makes concurrent applySchema() calls on one schema take turns until their
-- transactions end, so that the later ones find the objects committed by the first instead of
-- failing on duplicate names. Keyed by the schema objects would be created in.
-- Parameters: none.
-- Returns one row, no useful column.
SELECT pg_advisory_xact_lock(hashtext('task-semaphore:procrastinate-schema'), hashtext(coalesce(current_schema(), '')));
