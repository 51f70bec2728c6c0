// A new, empty LUKS-encrypted qcow2 written by us rather than `qemu-img create`
// (docs/encryption.md#how-layers-are-made): the same layout QEMU 7.2 gives one (docs/interop/qcow2.txt),
// without the PBKDF2 timing loop that makes qemu-img take seconds per file. Only the shape
// create-image.ts asks for: 64 KiB clusters, 16-bit refcounts, no options; anything else is refused
// with a reason (luksQcow2Unsupported) and left to qemu-img.

import { open } from 'node:fs/promises';
import type { ImageSecret } from './image-secret.js';
import { LUKS_HEADER_BYTES, luksHeader } from './luks-header.js';

const MAGIC = 0x514649fb; // "QFI\xfb"
const VERSION = 3;
const CLUSTER_BITS = 16;
const CLUSTER = 2 ** CLUSTER_BITS;
const HEADER_LENGTH = 112; // v3 header with the compression type byte, padded to 8
const CRYPT_LUKS = 2;
const REFCOUNT_ORDER = 4; // 16-bit refcounts
const REFCOUNTS_PER_BLOCK = CLUSTER / 2;
const L2_ENTRIES = CLUSTER / 8;
const MAX_L1_BYTES = 32 * 1024 * 1024; // QEMU's QCOW_MAX_L1_SIZE
const MAX_BACKING_NAME = 1023;
const EXT_END = 0x00000000;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_FEATURE_TABLE = 0x6803f857;
const EXT_CRYPTO_HEADER = 0x0537be77;
// The feature name table QEMU 7.2 writes (type: 0 incompatible, 1 compatible, 2 autoclear).
const FEATURES: readonly (readonly [number, number, string])[] = [
  [0, 0, 'dirty bit'],
  [0, 1, 'corrupt bit'],
  [0, 2, 'external data file'],
  [0, 3, 'compression type'],
  [0, 4, 'extended L2 entries'],
  [1, 0, 'lazy refcounts'],
  [2, 0, 'bitmaps'],
  [2, 1, 'raw external data'],
];
const FEATURE_BYTES = 48;

export interface LuksQcow2 {
  readonly sizeBytes: number;
  readonly secret: ImageSecret;
  /** The backing file's name as stored (relative to the new file's directory) and its format. */
  readonly backing?: { readonly name: string; readonly format: string };
  readonly overwrite?: boolean;
}

/** Why writeLuksQcow2 cannot make this file (qemu-img must), or undefined when it can. */
export function luksQcow2Unsupported(layer: Pick<LuksQcow2, 'sizeBytes' | 'backing'>): string | undefined {
  if (!Number.isSafeInteger(layer.sizeBytes) || layer.sizeBytes <= 0) return `size ${layer.sizeBytes}`;
  if (layer.sizeBytes % 512 !== 0) return `size ${layer.sizeBytes} is not whole 512-byte sectors`;
  if (l1Entries(layer.sizeBytes) * 8 > MAX_L1_BYTES) return `size ${layer.sizeBytes} needs too large an L1 table`;
  const name = layer.backing?.name;
  if (name !== undefined && (name.length === 0 || Buffer.byteLength(name) > MAX_BACKING_NAME || name.includes('\0')))
    return `backing file name of ${Buffer.byteLength(name)} bytes`;
  if (layer.backing !== undefined && !/^[a-z0-9]{1,16}$/.test(layer.backing.format))
    return `backing format ${JSON.stringify(layer.backing.format)}`;
  return undefined;
}

/** Writes the file; throws (writing nothing) for a layer luksQcow2Unsupported names a reason for. */
export async function writeLuksQcow2(file: string, layer: LuksQcow2): Promise<void> {
  const unsupported = luksQcow2Unsupported(layer);
  if (unsupported !== undefined) throw new Error(`writeLuksQcow2: cannot write ${file}: ${unsupported}`);
  // Clusters in QEMU's order: header, refcount table, refcount block, L1 table, LUKS header.
  const l1Clusters = Math.ceil((l1Entries(layer.sizeBytes) * 8) / CLUSTER);
  const l1Cluster = 3;
  const luksCluster = l1Cluster + l1Clusters;
  const clusters = luksCluster + Math.ceil(LUKS_HEADER_BYTES / CLUSTER);
  if (clusters > REFCOUNTS_PER_BLOCK)
    throw new Error(`writeLuksQcow2: ${clusters} clusters need a second refcount block`);

  const head = qcow2Header(layer, l1Cluster * CLUSTER, luksCluster * CLUSTER);
  const refcountTable = Buffer.alloc(8);
  refcountTable.writeBigUInt64BE(BigInt(2 * CLUSTER));
  const refcountBlock = Buffer.alloc(clusters * 2);
  for (let cluster = 0; cluster < clusters; cluster++) refcountBlock.writeUInt16BE(1, cluster * 2);
  const luks = luksHeader(Buffer.from(layer.secret.passphrase, 'utf8'));

  const handle = await open(file, layer.overwrite ? 'w' : 'wx', 0o600);
  try {
    await handle.write(head, 0, head.length, 0);
    await handle.write(refcountTable, 0, refcountTable.length, CLUSTER);
    await handle.write(refcountBlock, 0, refcountBlock.length, 2 * CLUSTER);
    // The L1 table is all zeros: the file's holes.
    await handle.write(luks, 0, luks.length, luksCluster * CLUSTER);
    await handle.truncate(clusters * CLUSTER);
  } finally {
    await handle.close();
  }
}

function l1Entries(sizeBytes: number): number {
  return Math.ceil(sizeBytes / (CLUSTER * L2_ENTRIES));
}

// The header, its extensions and the backing file's name: the first cluster (qcow2.txt "Header",
// "Header extensions").
function qcow2Header(layer: LuksQcow2, l1Offset: number, luksOffset: number): Buffer {
  const extensions: Buffer[] = [];
  if (layer.backing !== undefined) extensions.push(extension(EXT_BACKING_FORMAT, Buffer.from(layer.backing.format)));
  const crypto = Buffer.alloc(16);
  crypto.writeBigUInt64BE(BigInt(luksOffset), 0);
  crypto.writeBigUInt64BE(BigInt(LUKS_HEADER_BYTES), 8);
  extensions.push(extension(EXT_CRYPTO_HEADER, crypto));
  const features = Buffer.alloc(FEATURES.length * FEATURE_BYTES);
  FEATURES.forEach(([type, bit, name], index) => {
    features.writeUInt8(type, index * FEATURE_BYTES);
    features.writeUInt8(bit, index * FEATURE_BYTES + 1);
    features.write(name, index * FEATURE_BYTES + 2, 'latin1');
  });
  extensions.push(extension(EXT_FEATURE_TABLE, features), extension(EXT_END, Buffer.alloc(0)));
  const backingName = layer.backing === undefined ? Buffer.alloc(0) : Buffer.from(layer.backing.name);
  const backingOffset = HEADER_LENGTH + extensions.reduce((sum, ext) => sum + ext.length, 0);

  const header = Buffer.alloc(HEADER_LENGTH);
  header.writeUInt32BE(MAGIC, 0);
  header.writeUInt32BE(VERSION, 4);
  header.writeBigUInt64BE(BigInt(backingName.length ? backingOffset : 0), 8);
  header.writeUInt32BE(backingName.length, 16);
  header.writeUInt32BE(CLUSTER_BITS, 20);
  header.writeBigUInt64BE(BigInt(layer.sizeBytes), 24);
  header.writeUInt32BE(CRYPT_LUKS, 32);
  header.writeUInt32BE(l1Entries(layer.sizeBytes), 36);
  header.writeBigUInt64BE(BigInt(l1Offset), 40);
  header.writeBigUInt64BE(BigInt(CLUSTER), 48); // refcount table
  header.writeUInt32BE(1, 56); // refcount table clusters
  // nb_snapshots, snapshots_offset and the feature bits stay 0.
  header.writeUInt32BE(REFCOUNT_ORDER, 96);
  header.writeUInt32BE(HEADER_LENGTH, 100);
  // compression_type 0 (zlib) at 104, then padding.
  return Buffer.concat([header, ...extensions, backingName]);
}

// One header extension: type, length, data padded to 8 bytes.
function extension(type: number, data: Buffer): Buffer {
  const out = Buffer.alloc(8 + Math.ceil(data.length / 8) * 8);
  out.writeUInt32BE(type, 0);
  out.writeUInt32BE(data.length, 4);
  data.copy(out, 8);
  return out;
}
