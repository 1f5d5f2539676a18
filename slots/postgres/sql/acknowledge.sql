-- acknowledge: removes delivered records from the delivery log (migrate-004.sql), once their
-- callbacks ran. Records the log does not hold are ignored.
-- Parameters: $1 text: scheduler name; $2 text[]: task ids; $3 bigint[]: tokens, pairwise with $2.
-- Returns: nothing.
-- How it finds them: includes/delete-acknowledged.sql.
WITH acked AS (
  SELECT * FROM unnest($2::text[], $3::bigint[]) AS a(task_id, token)
)
-- @include delete-acknowledged.sql
;
