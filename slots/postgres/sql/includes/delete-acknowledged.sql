-- Shared by acknowledge.sql and end-many.sql (scripts/build-assets.mjs inlines it): deletes from
-- the delivery log of scheduler $1 the records named by the relation `acked` (task_id, token),
-- which the including statement defines; records the log does not hold are ignored.
--
-- Each record is found alone through the primary key (a LATERAL with LIMIT: the planner cannot
-- turn it into a join over the whole scheduler), then deleted by its row address. A join of the
-- task ids to the table let the planner read every row of the scheduler name, as a bitmap scan,
-- whenever its statistics showed a small table, which a delivery log always is: records come and
-- go with every task. Such a scan visits each entry of a record deleted since the last vacuum and
-- never marks one dead. In the drain benchmark the delete in end-many.sql read 31,800
-- index entries and 1,564 heap pages a call after 30,000 tasks, half of that statement's time.
-- A record that a pass leased again meanwhile (its lease lapsed) may be deleted or left to that
-- pass, depending on the plan and the server's minor version; either way that pass delivers it
-- again, as it would have before this delete took this shape.
DELETE FROM __SCHEMA__.task_semaphore_deliveries AS d
USING acked AS a
CROSS JOIN LATERAL (
  SELECT x.ctid AS tid
  FROM __SCHEMA__.task_semaphore_deliveries AS x
  WHERE x.scheduler = $1::text AND x.task_id = a.task_id AND x.token = a.token
  LIMIT 1
) AS k
WHERE d.ctid = k.tid
