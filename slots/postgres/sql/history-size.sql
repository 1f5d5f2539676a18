-- history-size: how many history records (migrate-006.sql) a scheduler name has, counted no
-- further than a bound, so that a table of millions of rows costs at most that many index
-- entries. Read only. Running occupancies are not records: they are not counted.
--
-- Parameters: $1 text: scheduler name; $2 bigint: most records to count.
-- Returns one row: records bigint, the smaller of the count and the bound.
SELECT count(*) AS records
FROM (
  SELECT 1
  FROM __SCHEMA__.task_semaphore_history AS h
  WHERE h.scheduler = $1::text
  LIMIT $2::bigint
) AS bounded;
