-- history: the records of ended occupancies (migrate-006.sql) and the occupancies running now
-- (outcome 'running') of a scheduler name that match every filter given, newest first. Read only;
-- one statement, so one snapshot: an occupancy is either running or ended in it, never both.
-- Filters follow src/contracts/history.ts: a null parameter is unset, an empty array matches
-- nothing, an `after` bound is inclusive and a `before` bound exclusive. A running occupancy has
-- no reason, status or end: a filter on any of them leaves it out.
--
-- Parameters:
--   $1 text      scheduler name
--   $2 text[]    task ids          $3 text[]  outcomes        $4 text[]  end reasons
--   $5 text[]    statuses          $6 text[]  backends        $7 text[]  slot ids
--   $8 text[]    owners (holders)
--   $9 bigint    started at or after    $10 bigint  started before
--   $11 bigint   ended at or after      $12 bigint  ended before
--   $13 bigint   most rows
-- Returns rows of task_id, token, slot_id, backend, owner, reserved_at, started_at,
-- last_keepalive_at, keepalives, ended_at, outcome, reason, status, error; by started_at then
-- token, newest first.
SELECT r.*
FROM (
  SELECT h.task_id, h.token, h.slot_id, h.backend, h.owner, h.reserved_at, h.started_at,
         h.last_keepalive_at, h.keepalives, h.ended_at, h.outcome, h.reason, h.status, h.error
  FROM __SCHEMA__.task_semaphore_history AS h
  WHERE h.scheduler = $1::text
    AND ($2::text[] IS NULL OR h.task_id = ANY ($2::text[]))
    AND ($3::text[] IS NULL OR h.outcome = ANY ($3::text[]))
    AND ($4::text[] IS NULL OR h.reason = ANY ($4::text[]))
    AND ($5::text[] IS NULL OR h.status = ANY ($5::text[]))
    AND ($6::text[] IS NULL OR h.backend = ANY ($6::text[]))
    AND ($7::text[] IS NULL OR h.slot_id = ANY ($7::text[]))
    AND ($8::text[] IS NULL OR h.owner = ANY ($8::text[]))
    AND ($9::bigint IS NULL OR h.started_at >= $9::bigint)
    AND ($10::bigint IS NULL OR h.started_at < $10::bigint)
    AND ($11::bigint IS NULL OR h.ended_at >= $11::bigint)
    AND ($12::bigint IS NULL OR h.ended_at < $12::bigint)
  UNION ALL
  SELECT s.task_id, s.token, s.slot_id, s.backend, s.owner, s.reserved_at, s.started_at,
         s.last_keepalive_at, s.keepalives, NULL, 'running', NULL, NULL, NULL
  FROM __SCHEMA__.task_semaphore_slots AS s
  WHERE s.scheduler = $1::text
    AND s.status = 'running'
    AND ($2::text[] IS NULL OR s.task_id = ANY ($2::text[]))
    AND ($3::text[] IS NULL OR 'running' = ANY ($3::text[]))
    AND $4::text[] IS NULL
    AND $5::text[] IS NULL
    AND ($6::text[] IS NULL OR s.backend = ANY ($6::text[]))
    AND ($7::text[] IS NULL OR s.slot_id = ANY ($7::text[]))
    AND ($8::text[] IS NULL OR s.owner = ANY ($8::text[]))
    AND ($9::bigint IS NULL OR s.started_at >= $9::bigint)
    AND ($10::bigint IS NULL OR s.started_at < $10::bigint)
    AND $11::bigint IS NULL
    AND $12::bigint IS NULL
) AS r
ORDER BY r.started_at DESC, r.token DESC
LIMIT $13::bigint;
