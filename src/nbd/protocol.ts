// The numbers of the NBD protocol (github.com/NetworkBlockDevice/nbd doc/proto.md), in one place.

// proto.md "Newstyle negotiation": the greeting magics.
export const NBD_MAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
// proto.md "Option haggling": the magic that starts every option reply.
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;

// proto.md "Handshake flags" / "Client flags".
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;

// proto.md "Option types".
export const OPT_EXPORT_NAME = 1;
export const OPT_ABORT = 2;
export const OPT_INFO = 6;
export const OPT_GO = 7;
export const OPT_STRUCTURED_REPLY = 8;
export const OPT_SET_META_CONTEXT = 10;

// proto.md "Option reply types"; error replies have bit 31 set.
export const REP_ACK = 1;
export const REP_INFO = 3;
export const REP_META_CONTEXT = 4;
export const REP_FLAG_ERROR = 0x80000000;
// `>>> 0` keeps these unsigned, as they are read off the wire.
const repError = (code: number): number => (REP_FLAG_ERROR | code) >>> 0;
export const REP_ERROR_NAMES: Readonly<Record<number, string>> = Object.freeze({
  [repError(1)]: 'NBD_REP_ERR_UNSUP',
  [repError(2)]: 'NBD_REP_ERR_POLICY',
  [repError(3)]: 'NBD_REP_ERR_INVALID',
  [repError(4)]: 'NBD_REP_ERR_PLATFORM',
  [repError(5)]: 'NBD_REP_ERR_TLS_REQD',
  [repError(6)]: 'NBD_REP_ERR_UNKNOWN',
  [repError(7)]: 'NBD_REP_ERR_SHUTDOWN',
  [repError(8)]: 'NBD_REP_ERR_BLOCK_SIZE_REQD',
  [repError(9)]: 'NBD_REP_ERR_TOO_BIG',
});
export const REP_ERR_UNSUP = repError(1);
export const REP_ERR_UNKNOWN = repError(6);

// proto.md "Information types" (NBD_OPT_INFO / NBD_OPT_GO).
export const INFO_EXPORT = 0;
export const INFO_BLOCK_SIZE = 3;

// proto.md "Transmission flags".
export const TFLAG_HAS_FLAGS = 1 << 0;
export const TFLAG_READ_ONLY = 1 << 1;
export const TFLAG_SEND_FLUSH = 1 << 2;
export const TFLAG_SEND_TRIM = 1 << 5;
export const TFLAG_SEND_WRITE_ZEROES = 1 << 6;
export const TFLAG_CAN_MULTI_CONN = 1 << 8;

// proto.md "Transmission phase": request and reply magics.
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;
export const REQUEST_HEADER_SIZE = 28;
export const SIMPLE_REPLY_HEADER_SIZE = 16;
export const STRUCTURED_REPLY_HEADER_SIZE = 20;

// proto.md "Request types".
export const CMD_READ = 0;
export const CMD_WRITE = 1;
export const CMD_DISC = 2;
export const CMD_FLUSH = 3;
export const CMD_WRITE_ZEROES = 6;
export const CMD_BLOCK_STATUS = 7;
export const COMMAND_NAMES: Readonly<Record<number, string>> = Object.freeze({
  [CMD_READ]: 'READ',
  [CMD_WRITE]: 'WRITE',
  [CMD_DISC]: 'DISC',
  [CMD_FLUSH]: 'FLUSH',
  [CMD_WRITE_ZEROES]: 'WRITE_ZEROES',
  [CMD_BLOCK_STATUS]: 'BLOCK_STATUS',
});

// proto.md "Command flags".
export const CMD_FLAG_NO_HOLE = 1 << 1;

// proto.md "Structured reply chunk message types"; error types have bit 15 set.
export const REPLY_FLAG_DONE = 1 << 0;
export const REPLY_TYPE_NONE = 0;
export const REPLY_TYPE_OFFSET_DATA = 1;
export const REPLY_TYPE_OFFSET_HOLE = 2;
export const REPLY_TYPE_BLOCK_STATUS = 5;
export const REPLY_TYPE_ERROR = (1 << 15) | 1;
export const REPLY_TYPE_ERROR_OFFSET = (1 << 15) | 2;

// proto.md "base:allocation metadata context".
export const STATE_HOLE = 1 << 0;
export const STATE_ZERO = 1 << 1;
// qemu docs/interop/nbd.txt: qemu:dirty-bitmap:NAME sets bit 0 for a dirty block.
export const STATE_DIRTY = 1 << 0;
export const BASE_ALLOCATION = 'base:allocation';
export const DIRTY_BITMAP_PREFIX = 'qemu:dirty-bitmap:';

// proto.md "Block size constraints": without NBD_INFO_BLOCK_SIZE assume 32 MiB max payload.
export const DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024;
