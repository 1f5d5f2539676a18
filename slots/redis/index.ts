export { RedisSlotStore, type RedisSlotStoreOptions } from './redis-store.js';
