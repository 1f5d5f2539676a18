-- set-logged: makes the store's tables logged (the `unlogged` option: false); run by init() under
-- migrations-lock when persistence-state.sql counts any that are not. Each ALTER rewrites its
-- table under an exclusive lock; one already logged is left as it is.
-- Parameters: none (several statements). Returns: nothing.
ALTER TABLE __SCHEMA__.task_semaphore_slots SET LOGGED;
ALTER TABLE __SCHEMA__.task_semaphore_ended SET LOGGED;
ALTER TABLE __SCHEMA__.task_semaphore_outbox SET LOGGED;
ALTER TABLE __SCHEMA__.task_semaphore_deliveries SET LOGGED;
ALTER TABLE __SCHEMA__.task_semaphore_occupancy_ends SET LOGGED;
ALTER TABLE __SCHEMA__.task_semaphore_history SET LOGGED;
ALTER TABLE __SCHEMA__.task_semaphore_waiters SET LOGGED;
