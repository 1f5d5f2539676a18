-- release: sets idle the slots still reserved under the given tokens; any other slot (reaped,
-- reserved again under a later token, running) is left alone.
-- Parameters: $1 text: scheduler name; $2 text[]: slot ids; $3 bigint[]: tokens, pairwise with $2.
-- Returns: nothing.
UPDATE __SCHEMA__.task_semaphore_slots AS s
SET status = 'idle', owner = NULL, lease_until = NULL
FROM unnest($2::text[], $3::bigint[]) AS r(slot_id, token)
WHERE s.scheduler = $1::text
  AND s.slot_id = r.slot_id
  AND s.status = 'reserved'
  AND s.token = r.token;
