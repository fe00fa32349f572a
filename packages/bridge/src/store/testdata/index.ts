/** Test data of the store (not built, not published): a sample event, a migrated store in a temporary directory. */
export { sampleEvent } from './sample-event.ts';
export { openTempStore, type TempStore } from './temp-store.ts';
