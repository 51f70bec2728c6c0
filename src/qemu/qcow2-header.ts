// A cheap look at a qcow2 file's header (one 104-byte read, qcow2 spec "Header"): enough to tell a
// destroyed or truncated file from a restorable one without reading its data.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const MAGIC = 0x514649fb; // "QFI\xfb"
const CORRUPT_BIT = 2n; // incompatible_features bit 1: "corrupt" (v3)
const EXTERNAL_DATA_FILE_BIT = 4n; // incompatible_features bit 2 (v3)
const BACKING_FORMAT_EXTENSION = 0xe2792aca;
const LUKS_CRYPT_METHOD = 2;

// Undefined when the header looks sound, else what is wrong with it.
export function qcow2HeaderProblem(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return `file missing or unreadable: ${file}`;
  }
  try {
    const fileSize = fstatSync(fd).size;
    const header = Buffer.alloc(104);
    const bytesRead = readSync(fd, header, 0, header.length, 0);
    if (bytesRead < 72) return `not a qcow2 image (${bytesRead} bytes): ${file}`;
    if (header.readUInt32BE(0) !== MAGIC) return `qcow2 header destroyed (bad magic): ${file}`;
    const version = header.readUInt32BE(4);
    if (version !== 2 && version !== 3) return `qcow2 header damaged (version ${version}): ${file}`;
    const clusterBits = header.readUInt32BE(20);
    if (clusterBits < 9 || clusterBits > 21) return `qcow2 header damaged (cluster_bits ${clusterBits}): ${file}`;
    const clusterSize = 2n ** BigInt(clusterBits);
    const l1Size = BigInt(header.readUInt32BE(36));
    const l1Offset = header.readBigUInt64BE(40);
    const refcountOffset = header.readBigUInt64BE(48);
    const length = BigInt(fileSize);
    if (l1Offset % clusterSize !== 0n || l1Offset + l1Size * 8n > length)
      return `qcow2 header damaged (L1 table outside the file): ${file}`;
    if (refcountOffset === 0n || refcountOffset % clusterSize !== 0n || refcountOffset >= length) {
      return `qcow2 header damaged (refcount table outside the file): ${file}`;
    }
    if (version === 3 && bytesRead >= 80 && (header.readBigUInt64BE(72) & CORRUPT_BIT) !== 0n)
      return `qcow2 image marked corrupt by qemu: ${file}`;
    return undefined;
  } finally {
    closeSync(fd);
  }
}

// The backing file a qcow2 header names, and its format when the header says (qcow2 spec "Header"
// and "Header extensions"); undefined when there is none or the header cannot be read.
/** `offset`: where the name lies in the file (in its first cluster). */
export function readBacking(
  file: string,
): { readonly name: string; readonly format?: string; readonly offset: number } | undefined {
  // The header, its extensions and the backing file's name lie in the first cluster.
  const start = readHead(file, 104);
  if (start === undefined || start.length < 72 || start.readUInt32BE(0) !== MAGIC) return undefined;
  const clusterBits = start.readUInt32BE(20);
  if (clusterBits < 9 || clusterBits > 21) return undefined;
  const head = readHead(file, 2 ** clusterBits);
  if (head === undefined || head.length < 72) return undefined;
  const version = head.readUInt32BE(4);
  const nameOffset = Number(head.readBigUInt64BE(8));
  const nameSize = head.readUInt32BE(16);
  if (nameOffset === 0 || nameSize === 0 || nameOffset + nameSize > head.length) return undefined;
  const name = head.toString('utf8', nameOffset, nameOffset + nameSize);
  let at = version >= 3 && head.length >= 104 ? head.readUInt32BE(100) : 72;
  let format: string | undefined;
  while (at + 8 <= head.length) {
    const type = head.readUInt32BE(at);
    const length = head.readUInt32BE(at + 4);
    if (type === 0 || at + 8 + length > head.length) break;
    if (type === BACKING_FORMAT_EXTENSION) format = head.toString('utf8', at + 8, at + 8 + length);
    at += 8 + Math.ceil(length / 8) * 8;
  }
  return { name, format, offset: nameOffset };
}

// crypt_method 2 (LUKS) in the header: the file cannot be read without its secret.
export function isLuksQcow2(file: string): boolean {
  const head = readHead(file, 36);
  return (
    head !== undefined &&
    head.length === 36 &&
    head.readUInt32BE(0) === MAGIC &&
    head.readUInt32BE(32) === LUKS_CRYPT_METHOD
  );
}

// Any crypt_method but 0 (none): LUKS, or the legacy AES qemu no longer writes.
export function isEncryptedQcow2(file: string): boolean {
  const head = readHead(file, 36);
  return head === undefined || head.length < 36 || head.readUInt32BE(0) !== MAGIC || head.readUInt32BE(32) !== 0;
}

// incompatible_features bit 2 (v3): the guest data lies in another file, the header's "data file".
export function hasExternalDataFile(file: string): boolean {
  const head = readHead(file, 80);
  return (
    head !== undefined &&
    head.length === 80 &&
    head.readUInt32BE(0) === MAGIC &&
    head.readUInt32BE(4) >= 3 &&
    (head.readBigUInt64BE(72) & EXTERNAL_DATA_FILE_BIT) !== 0n
  );
}

export function isQcow2(file: string): boolean {
  const head = readHead(file, 4);
  return head !== undefined && head.length === 4 && head.readUInt32BE(0) === MAGIC;
}

function readHead(file: string, most: number): Buffer | undefined {
  return readFileRange(file, 0, most);
}

/** At most `most` bytes of `file` from `position` (fewer at its end); undefined when it cannot be read. */
export function readFileRange(file: string, position: number, most: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const buffer = Buffer.alloc(Math.max(0, Math.min(most, fstatSync(fd).size - position)));
    return buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, position));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
