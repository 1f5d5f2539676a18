-- acknowledge: removes delivered records from the delivery log (migrate-004.sql), once their
-- callbacks ran. Records the log does not hold are ignored.
-- Parameters: $1 text: scheduler name; $2 text[]: task ids; $3 bigint[]: tokens, pairwise with $2.
-- Returns: nothing.
-- How it finds them: includes/delete-acknowledged.sql. The arrays sit behind scalar subqueries so
-- that the statement keeps its generic plan, as end-many.sql explains: a call names one or a few
-- records, and each such call was planned anew: 12 custom plans in 12 calls of one record; with
-- the subqueries, 5 custom plans, then the generic one.
WITH acked AS (
  SELECT * FROM unnest((SELECT $2::text[]), (SELECT $3::bigint[])) AS a(task_id, token)
)
-- @include delete-acknowledged.sql
;
