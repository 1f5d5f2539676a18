-- worker-register: adds a row to procrastinate_workers, as a Python worker does at start; every
-- job we claim carries its id, so that the stalled-job logic knows someone runs it.
-- Parameters: none.
-- Returns worker_id bigint.
SELECT worker_id FROM procrastinate_register_worker_v1()
