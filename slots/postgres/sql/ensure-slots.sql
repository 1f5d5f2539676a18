-- ensure-slots: adds the missing slots of a scheduler name as idle; existing slots are untouched.
-- Inserted in slot id order, so that concurrent callers take the index entries in one order and
-- cannot deadlock.
-- Parameters: $1 text: scheduler name; $2 text[]: slot ids.
-- Returns: nothing.
INSERT INTO __SCHEMA__.task_semaphore_slots (scheduler, slot_id)
SELECT DISTINCT $1::text, w.slot_id
FROM unnest($2::text[]) AS w(slot_id)
ORDER BY 2
ON CONFLICT (scheduler, slot_id) DO NOTHING;
