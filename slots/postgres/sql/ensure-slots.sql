-- ensure-slots: adds the missing slots of a scheduler name as idle; existing slots are untouched.
-- Inserted in slot id order, so that concurrent callers take the index entries in one order and
-- cannot deadlock. Once it adds any, the token sequence is raised to the clock
-- (task_semaphore_token_floor_v1, migrate-010.sql) before another transaction can see them:
-- slots missing after the tables were emptied (a crash with `unlogged`) take no token below
-- those handed out before.
-- Parameters: $1 text: scheduler name; $2 text[]: slot ids.
-- Returns: no row, or one when it added slots.
WITH added AS (
  INSERT INTO __SCHEMA__.task_semaphore_slots (scheduler, slot_id)
  SELECT DISTINCT $1::text, w.slot_id
  FROM unnest($2::text[]) AS w(slot_id)
  ORDER BY 2
  ON CONFLICT (scheduler, slot_id) DO NOTHING
  RETURNING slot_id
)
SELECT __SCHEMA__.task_semaphore_token_floor_v1()
FROM (SELECT 1 FROM added LIMIT 1) AS any_added;
