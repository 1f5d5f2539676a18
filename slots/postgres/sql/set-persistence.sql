-- set-persistence: makes the store's tables unlogged or logged (the `unlogged` option); run by
-- init() under migrations-lock when persistence-state.sql counts any that are not so. Each ALTER
-- rewrites its table under an exclusive lock; one already so is left as it is.
-- __PERSISTENCE__ is the keyword UNLOGGED or LOGGED, put in by migrate.ts (a keyword, not a value:
-- ALTER TABLE takes no parameter).
-- Parameters: none (several statements). Returns: nothing.
ALTER TABLE __SCHEMA__.task_semaphore_slots SET __PERSISTENCE__;
ALTER TABLE __SCHEMA__.task_semaphore_ended SET __PERSISTENCE__;
ALTER TABLE __SCHEMA__.task_semaphore_outbox SET __PERSISTENCE__;
ALTER TABLE __SCHEMA__.task_semaphore_deliveries SET __PERSISTENCE__;
ALTER TABLE __SCHEMA__.task_semaphore_occupancy_ends SET __PERSISTENCE__;
ALTER TABLE __SCHEMA__.task_semaphore_history SET __PERSISTENCE__;
ALTER TABLE __SCHEMA__.task_semaphore_waiters SET __PERSISTENCE__;
