// A new, empty LUKS-encrypted qcow2 written by us rather than `qemu-img create`
// (docs/encryption.md#how-layers-are-made): the same layout QEMU 7.2 gives one (docs/interop/qcow2.txt),
// without the PBKDF2 timing loop that makes qemu-img take seconds per file. Only the shapes
// create-image.ts asks for: 64 KiB to 2 MiB clusters, with or without extended L2 entries, 16-bit
// refcounts; anything else is refused with a reason (luksQcow2Unsupported) and left to qemu-img.

import { open } from 'node:fs/promises';
import type { ImageSecret } from './image-secret.js';
import { LUKS_HEADER_BYTES, luksHeader } from './luks-header.js';

const MAGIC = 0x514649fb; // "QFI\xfb"
const VERSION = 3;
const DEFAULT_CLUSTER = 64 * 1024;
// Smaller clusters would need more than one refcount block for the LUKS header alone.
const MIN_CLUSTER = DEFAULT_CLUSTER;
const MAX_CLUSTER = 2 * 1024 * 1024;
const HEADER_LENGTH = 112; // v3 header with the compression type byte, padded to 8
const CRYPT_LUKS = 2;
const EXTENDED_L2_BIT = 16n; // incompatible_features bit 4
const REFCOUNT_ORDER = 4; // 16-bit refcounts
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
  /** qemu-img's cluster_size (64 KiB when left out) and extended_l2 (off). */
  readonly clusterSize?: number;
  readonly extendedL2?: boolean;
}

type Shape = Pick<LuksQcow2, 'sizeBytes' | 'backing' | 'clusterSize' | 'extendedL2'>;

/** Why writeLuksQcow2 cannot make this file (qemu-img must), or undefined when it can. */
export function luksQcow2Unsupported(layer: Shape): string | undefined {
  const cluster = layer.clusterSize ?? DEFAULT_CLUSTER;
  if (
    !Number.isSafeInteger(cluster) ||
    cluster < MIN_CLUSTER ||
    cluster > MAX_CLUSTER ||
    (cluster & (cluster - 1)) !== 0
  )
    return `cluster size ${cluster}`;
  if (!Number.isSafeInteger(layer.sizeBytes) || layer.sizeBytes <= 0) return `size ${layer.sizeBytes}`;
  if (layer.sizeBytes % 512 !== 0) return `size ${layer.sizeBytes} is not whole 512-byte sectors`;
  if (l1Entries(layer) * 8 > MAX_L1_BYTES) return `size ${layer.sizeBytes} needs too large an L1 table`;
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
  const cluster = layer.clusterSize ?? DEFAULT_CLUSTER;
  // Clusters in QEMU's order: header, refcount table, refcount block, L1 table, LUKS header.
  const l1Cluster = 3;
  const luksCluster = l1Cluster + Math.ceil((l1Entries(layer) * 8) / cluster);
  const clusters = luksCluster + Math.ceil(LUKS_HEADER_BYTES / cluster);
  // One refcount block of 16-bit counts covers cluster / 2 clusters.
  if (clusters > cluster / 2) throw new Error(`writeLuksQcow2: ${clusters} clusters need a second refcount block`);

  const head = qcow2Header(layer, l1Cluster * cluster, luksCluster * cluster);
  const refcountTable = Buffer.alloc(8);
  refcountTable.writeBigUInt64BE(BigInt(2 * cluster));
  const refcountBlock = Buffer.alloc(clusters * 2);
  for (let index = 0; index < clusters; index++) refcountBlock.writeUInt16BE(1, index * 2);
  const passphrase = Buffer.from(layer.secret.passphrase, 'utf8');
  const luks = luksHeader(passphrase);
  passphrase.fill(0);

  const handle = await open(file, layer.overwrite ? 'w' : 'wx', 0o600);
  try {
    await handle.write(head, 0, head.length, 0);
    await handle.write(refcountTable, 0, refcountTable.length, cluster);
    await handle.write(refcountBlock, 0, refcountBlock.length, 2 * cluster);
    // The L1 table is all zeros: the file's holes.
    await handle.write(luks, 0, luks.length, luksCluster * cluster);
    await handle.truncate(clusters * cluster);
  } finally {
    await handle.close();
  }
}

// An L2 table fills a cluster with 8-byte entries (16-byte ones when extended).
function l1Entries(layer: Shape): number {
  const cluster = layer.clusterSize ?? DEFAULT_CLUSTER;
  const l2Entries = cluster / (layer.extendedL2 === true ? 16 : 8);
  return Math.ceil(layer.sizeBytes / (cluster * l2Entries));
}

// The header, its extensions and the backing file's name: the first cluster (qcow2.txt "Header",
// "Header extensions").
function qcow2Header(layer: LuksQcow2, l1Offset: number, luksOffset: number): Buffer {
  const cluster = layer.clusterSize ?? DEFAULT_CLUSTER;
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
  header.writeUInt32BE(Math.log2(cluster), 20);
  header.writeBigUInt64BE(BigInt(layer.sizeBytes), 24);
  header.writeUInt32BE(CRYPT_LUKS, 32);
  header.writeUInt32BE(l1Entries(layer), 36);
  header.writeBigUInt64BE(BigInt(l1Offset), 40);
  header.writeBigUInt64BE(BigInt(cluster), 48); // refcount table
  header.writeUInt32BE(1, 56); // refcount table clusters
  // nb_snapshots and snapshots_offset stay 0, and every feature bit but extended L2.
  header.writeBigUInt64BE(layer.extendedL2 === true ? EXTENDED_L2_BIT : 0n, 72);
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
