// State in SQLite (docs/how-it-works.md#what-is-recorded-and-where): open it with openStore, use it through the Store interface.

export { openStore, IN_MEMORY } from './open-store.js';
export { newId } from './new-id.js';
export { isPortFree } from './port-probe.js';
export type * from './records.js';
export type * from './store.js';
