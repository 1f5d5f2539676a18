-- set-unlogged: makes the store's tables unlogged (the `unlogged` option: true); run by init() under
-- migrations-lock when persistence-state.sql counts any that are not. Each ALTER rewrites its
-- table under an exclusive lock; one already unlogged is left as it is.
-- Parameters: none (several statements). Returns: nothing.
ALTER TABLE __SCHEMA__.task_semaphore_slots SET UNLOGGED;
ALTER TABLE __SCHEMA__.task_semaphore_ended SET UNLOGGED;
ALTER TABLE __SCHEMA__.task_semaphore_outbox SET UNLOGGED;
ALTER TABLE __SCHEMA__.task_semaphore_deliveries SET UNLOGGED;
ALTER TABLE __SCHEMA__.task_semaphore_occupancy_ends SET UNLOGGED;
ALTER TABLE __SCHEMA__.task_semaphore_history SET UNLOGGED;
ALTER TABLE __SCHEMA__.task_semaphore_waiters SET UNLOGGED;
