-- acknowledge: removes delivered records from the delivery log (migrate-004.sql), once their
-- callbacks ran. Records the log does not hold are ignored.
-- Parameters: $1 text: scheduler name; $2 text[]: task ids; $3 bigint[]: tokens, pairwise with $2.
-- Returns: nothing.
DELETE FROM __SCHEMA__.task_semaphore_deliveries AS d
USING unnest($2::text[], $3::bigint[]) AS a(task_id, token)
WHERE d.scheduler = $1::text
  AND d.task_id = a.task_id
  AND d.token = a.token;
