import { MemoryStore } from './memory.ts';
import { storeSuite } from './store.suite.ts';

storeSuite('MemoryStore', { create: async () => new MemoryStore() });
