export { MemorySlotStore, type MemorySlotStoreOptions } from './memory-store.js';
