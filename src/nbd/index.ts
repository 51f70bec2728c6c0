// The NBD client: connect to an export, pipeline requests, read block status.

export { NbdConnection, type ConnectOptions, type QueuedWrite, type ReadResult } from './connection.js';
export type { Extent } from './extent.js';
export type { ExportInfo } from './handshake.js';
export { describeNbdAddress, parseNbdUrl, type NbdAddress } from './nbd-url.js';
export { BASE_ALLOCATION, DIRTY_BITMAP_PREFIX, STATE_DIRTY, STATE_HOLE, STATE_ZERO } from './protocol.js';
export { mergeExtents, walkExtents } from './walk-extents.js';
